"""Whether this process's principal holds its role's ACLs, asked of the brokers at
start-up: a missing one is named in one line, instead of a worker crashing on its first
topic or an edge answering 503 for ever.

Metadata v8 (KIP-430) answers, for each topic asked about, the operations the caller may
perform on it; aiokafka's protocol stops at v5, so the request is declared here. Groups
are not covered (Kafka says nothing of them in metadata): a worker refused its group
stops naming the group's ACL (`agents.app.stop_on_fatal_group_error`)."""

from __future__ import annotations

import logging

from aiokafka.errors import TopicAuthorizationFailedError
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Boolean, Int16, Int32, Schema, String

from cxone_router.kafka.acls import Acl, Pattern, Resource
from cxone_router.kafka.clients import Connection
from cxone_router.kafka.diagnose import AclMissingError

log = logging.getLogger(__name__)
UNKNOWN_OPERATIONS = -(2**31)  # what a broker answers when it did not compute them


class MetadataResponse_v8(Response):  # type: ignore[misc]  # noqa: N801 - aiokafka's naming
    API_KEY = 3
    API_VERSION = 8
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("brokers", Array(("node_id", Int32), ("host", String("utf-8")), ("port", Int32),
                          ("rack", String("utf-8")))),
        ("cluster_id", String("utf-8")),
        ("controller_id", Int32),
        ("topics", Array(
            ("error_code", Int16),
            ("topic", String("utf-8")),
            ("is_internal", Boolean),
            ("partitions", Array(("error_code", Int16), ("partition", Int32), ("leader", Int32),
                                 ("leader_epoch", Int32), ("replicas", Array(Int32)),
                                 ("isr", Array(Int32)), ("offline_replicas", Array(Int32)))),
            ("topic_authorized_operations", Int32),
        )),
        ("cluster_authorized_operations", Int32),
    )


class MetadataRequest_v8(RequestStruct):  # type: ignore[misc]  # noqa: N801
    API_KEY = 3
    API_VERSION = 8
    RESPONSE_TYPE = MetadataResponse_v8
    SCHEMA = Schema(
        ("topics", Array(String("utf-8"))),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
    )


class AuthorizedOperationsRequest(Request[MetadataRequest_v8]):  # type: ignore[misc]
    API_KEY = 3

    def __init__(self, topics: list[str]) -> None:
        self._topics = topics

    def build(self, request_struct_class: type[MetadataRequest_v8]) -> MetadataRequest_v8:
        return request_struct_class(self._topics, False, False, True)


def _missing(acls: list[Acl], answers: dict[str, tuple[int, int]]) -> list[Acl]:
    """The ACLs not covered by the brokers' answers (topic -> error code, operations)."""
    missing = []
    for acl in acls:
        if acl.resource is not Resource.TOPIC:
            continue
        names = [acl.name] if acl.pattern is Pattern.LITERAL else \
            [n for n in answers if n.startswith(acl.name)]
        for name in names:
            code, operations = answers.get(name, (0, UNKNOWN_OPERATIONS))
            denied = code == TopicAuthorizationFailedError.errno
            known = code == 0 and operations != UNKNOWN_OPERATIONS
            if denied or known and not operations & (1 << acl.operation):
                missing.append(acl)
    return sorted(set(missing))


def _by_operation(acls: list[Acl]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for acl in acls:
        suffix = "* (prefix)" if acl.pattern is Pattern.PREFIXED else ""
        grouped.setdefault(acl.operation.name, []).append(f"{acl.name}{suffix}")
    return grouped


async def check_permissions(kafka: Connection, acls: list[Acl], role: str,
                            also: tuple[str, ...] = ()) -> None:
    """Raise `AclMissingError` naming what `acls` lack; `also`: topics a prefixed ACL must
    cover (the worker's own). Says nothing when the brokers cannot tell (no authorizer,
    an older or non-Apache broker): the clients' own errors will then speak."""
    topics = sorted({a.name for a in acls if a.resource is Resource.TOPIC
                     and a.pattern is Pattern.LITERAL} | set(also))
    if not topics:
        return
    client = kafka.admin(request_timeout_ms=10_000)._client
    try:
        await client.bootstrap()
        response = await client.send(client.get_random_node(),
                                     AuthorizedOperationsRequest(topics))
    except Exception as exc:  # noqa: BLE001 - a check that cannot run must not stop start-up
        log.info("ACL check skipped: %s", type(exc).__name__)
        return
    finally:
        await client.close()
    answers = {name: (code, operations)
               for code, name, _internal, _partitions, operations in response.topics}
    if missing := _missing(acls, answers):
        principal = kafka.security.principal
        wanted = "; ".join(f"{operation} on {', '.join(names)}"
                           for operation, names in _by_operation(missing).items())
        raise AclMissingError(
            f"ACL missing for this principal ({principal}): {wanted}; an admin grants the "
            f"{role} role's ACLs with `cxone-router acls --role {role} --principal "
            f"User:NAME --apply`")
