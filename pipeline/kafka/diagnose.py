"""Why a client cannot connect, in one line naming what to check.

aiokafka retries a refused TLS handshake or a wrong password as if the broker were down,
and logs a traceback each time. Before a process starts its clients, and again when a
client fails to start, one probe connection says which it is: a broker away (retry), or a
setting that is wrong (stop, naming the variables)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from cxone_router.errors import ConfigurationError, CxoneRouterError
from cxone_router.kafka.clients import Connection
from cxone_router.kafka.security import MECHANISM, PROTOCOL

PROBE_TIMEOUT_SECONDS = 10.0
# How long a command's client tries to reach the brokers before saying it could not.
CONNECT_TIMEOUT_SECONDS = 15.0
CREDENTIALS = "CXR_KAFKA_SASL_USERNAME and CXR_KAFKA_SASL_PASSWORD"
T = TypeVar("T")


class KafkaSecurityError(ConfigurationError):
    """The brokers refused how we connect: a setting to fix, not an outage to wait out."""


class AclMissingError(CxoneRouterError):
    """The brokers took who we are, but not what we asked: an ACL is missing."""


async def refuse_unauthorized(client: Any, topics: list[str], operation: str,
                              role: str) -> None:
    """Raise, naming the ACL, when the brokers do not let this principal see these topics
    (a metadata request for all topics leaves them out, as if they did not exist)."""
    response = await client.send(client.get_random_node(), MetadataRequest(topics))
    denied = sorted(name for code, name, *_ in response.topics
                    if code == TopicAuthorizationFailedError.errno)
    if denied:
        raise AclMissingError(
            f"ACL missing: this principal may not {operation} topic {', '.join(denied)}; "
            f"an admin grants a role's ACLs with `cxone-router acls --role {role} "
            f"--principal User:NAME --apply`")


class BrokerUnreachableError(CxoneRouterError):
    """No broker of the bootstrap list answered (down, wrong address, or not Kafka)."""

    retriable = True


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    return host.strip("[]"), int(port)


def explain(exc: BaseException, kafka: Connection, address: str) -> str | None:
    """One line for an error that a setting causes; None for one a retry may cure."""
    security = kafka.security
    host = host_port(address)[0]
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, _IP_ADDRESS_MISMATCH
            return (f"the certificate of the broker at {address} is not for {host!r}: dial "
                    f"the name in its certificate (CXR_KAFKA_BOOTSTRAP), or turn the check "
                    f"off with CXR_KAFKA_SSL_CHECK_HOSTNAME=false (not in production)")
        return (f"the certificate of the broker at {address} is not trusted "
                f"({exc.verify_message}): set CXR_KAFKA_SSL_CA_FILE to the CA that signed it")
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or str(exc)).upper()
        if not security.cert_file and ("CERTIFICATE" in reason or "HANDSHAKE" in reason):
            return (f"the broker at {address} wants a client certificate (mutual TLS): set "
                    f"CXR_KAFKA_SSL_CERT_FILE and CXR_KAFKA_SSL_KEY_FILE")
        if "CERTIFICATE" in reason or "UNKNOWN_CA" in reason:
            return (f"the broker at {address} refused our client certificate ({exc.reason}):"
                    f" check CXR_KAFKA_SSL_CERT_FILE, signed by a CA the broker trusts")
        if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER" in reason or \
                "PACKET_LENGTH_TOO_LONG" in reason:
            return (f"the broker at {address} does not speak TLS on that port: check "
                    f"{PROTOCOL} (SASL_PLAINTEXT or PLAINTEXT) and the port")
        return f"TLS with the broker at {address} failed ({exc.reason}): check {PROTOCOL}"
    if isinstance(exc, SaslAuthenticationFailed):
        return (f"the broker at {address} refused user {security.username!r} with "
                f"{security.mechanism}: check {CREDENTIALS} (and {MECHANISM})")
    if isinstance(exc, UnsupportedSaslMechanismError):
        return (f"the broker at {address} does not offer SASL mechanism "
                f"{security.mechanism}: check {MECHANISM}")
    return None


def _closed(address: str) -> str:
    return (f"the broker at {address} closed the connection unanswered: check {PROTOCOL} "
            f"(the listener may want TLS, SASL or both) and the port")


class _NoAnswer(Exception):
    pass


async def _probe(kafka: Connection, address: str, timeout: float) -> str | None:
    """Connect (TLS, SASL) and ask for metadata: a problem's line, or None; `_NoAnswer`
    when nothing listens there."""
    host, port = host_port(address)
    options = kafka.security.client_options()
    try:
        conn = await asyncio.wait_for(
            create_conn(host, port, request_timeout_ms=int(timeout * 1000), **options), timeout)
    except (OSError, KafkaError, TimeoutError) as exc:
        cause = exc.__cause__ if isinstance(exc, KafkaConnectionError) else exc
        line = explain(cause or exc, kafka, address)
        if line is None and isinstance(exc, KafkaConnectionError) and \
                "closed" in str(exc).lower():
            return _closed(address)
        if line is None:
            raise _NoAnswer from None
        return line
    try:
        await asyncio.wait_for(conn.send(MetadataRequest([])), timeout)
    except (KafkaError, OSError, TimeoutError) as exc:
        if not conn.connected():
            return _closed(address)
        return explain(exc, kafka, address)
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    return None


async def first_answer(kafka: Connection, ask: Callable[[str], Awaitable[T]],
                       timeout: float) -> tuple[bool, T | None]:
    """`ask` each bootstrap address in turn until one answers: (True, its answer), or
    (False, None) when none does within `timeout` (a ConfigurationError stops it)."""
    async def in_turn() -> tuple[bool, T | None]:
        for address in kafka.bootstrap.split(","):
            try:
                return True, await ask(address)
            except ConfigurationError:
                raise
            except Exception:  # noqa: BLE001 - nothing there, or a probe gone wrong
                continue
        return False, None

    try:
        return await asyncio.wait_for(in_turn(), timeout)
    except TimeoutError:
        return False, None


async def probe(kafka: Connection, timeout: float = PROBE_TIMEOUT_SECONDS
                ) -> tuple[bool, str | None]:
    """Whether a broker answered, and the line saying what to fix when it refused how we
    connect. The first bootstrap address that answers decides; `timeout` bounds it all."""
    return await first_answer(kafka, lambda address: _probe(kafka, address, timeout), timeout)


async def diagnose(kafka: Connection, timeout: float = PROBE_TIMEOUT_SECONDS) -> str | None:
    """A line when the brokers refuse how we connect; None when they take us, or when none
    answers (that is an outage, not a setting)."""
    return (await probe(kafka, timeout))[1]


async def check_security(kafka: Connection, timeout: float = PROBE_TIMEOUT_SECONDS) -> bool:
    """Stop start-up with one line when the brokers refuse how we connect; say whether
    one answered."""
    answered, problem = await probe(kafka, timeout)
    if problem is not None:
        raise KafkaSecurityError(problem)
    return answered


async def start_client(client: Any, kafka: Connection,
                       timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Start a command's client within `timeout`; when it cannot, say in one line whether
    a setting is wrong (`KafkaSecurityError`) or no broker answered."""
    try:
        # aiokafka tries each bootstrap host for up to request_timeout_ms: bound the whole.
        await asyncio.wait_for(client.start(), timeout)
    except (KafkaError, OSError, TimeoutError) as exc:
        await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
        await check_security(kafka)
        why = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) \
            else "no broker answered"
        raise BrokerUnreachableError(f"cannot reach Kafka at {kafka.bootstrap}: {why}; is "
                                     f"the address right and the broker up?") from None
