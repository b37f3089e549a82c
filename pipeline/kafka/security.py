"""TLS and SASL for every Kafka client: the settings checked as a whole, and turned into
the options aiokafka and Faust take. Nothing here ever puts a secret into a message."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cxone_router.settings import Settings

PROTOCOL = "CXR_KAFKA_SECURITY_PROTOCOL"
MECHANISM = "CXR_KAFKA_SASL_MECHANISM"
SASL_VARIABLES = {"kafka_sasl_mechanism": MECHANISM,
                  "kafka_sasl_username": "CXR_KAFKA_SASL_USERNAME",
                  "kafka_sasl_password": "CXR_KAFKA_SASL_PASSWORD"}
TLS_VARIABLES = {"kafka_ssl_ca_file": "CXR_KAFKA_SSL_CA_FILE",
                 "kafka_ssl_cert_file": "CXR_KAFKA_SSL_CERT_FILE",
                 "kafka_ssl_key_file": "CXR_KAFKA_SSL_KEY_FILE",
                 "kafka_ssl_key_password": "CXR_KAFKA_SSL_KEY_PASSWORD"}


def uses_tls(protocol: str) -> bool:
    return protocol in ("SSL", "SASL_SSL")


def uses_sasl(protocol: str) -> bool:
    return protocol.startswith("SASL_")


def security_problems(settings: Settings) -> list[str]:
    """What is contradictory or missing in the security settings, each naming the
    variables (never their values). Empty when they make one whole."""
    protocol = settings.kafka_security_protocol
    given = {name for name in [*SASL_VARIABLES, *TLS_VARIABLES]
             if getattr(settings, name) not in (None, "")}
    problems = []
    if uses_sasl(protocol):
        if missing := [v for n, v in SASL_VARIABLES.items() if n not in given]:
            problems.append(f"{PROTOCOL}={protocol} needs {', '.join(missing)}")
    elif stray := [v for n, v in SASL_VARIABLES.items() if n in given]:
        problems.append(f"{', '.join(stray)} set, but {PROTOCOL}={protocol} uses no SASL "
                        f"(SASL_SSL or SASL_PLAINTEXT do)")
    if not uses_tls(protocol):
        if stray := [v for n, v in TLS_VARIABLES.items() if n in given]:
            problems.append(f"{', '.join(stray)} set, but {PROTOCOL}={protocol} uses no TLS "
                            f"(SSL or SASL_SSL do)")
    else:
        cert, key = "kafka_ssl_cert_file" in given, "kafka_ssl_key_file" in given
        if cert != key:
            problems.append("a client certificate needs both CXR_KAFKA_SSL_CERT_FILE and "
                            "CXR_KAFKA_SSL_KEY_FILE")
        if "kafka_ssl_key_password" in given and not key:
            problems.append("CXR_KAFKA_SSL_KEY_PASSWORD set without CXR_KAFKA_SSL_KEY_FILE")
        for name in ("kafka_ssl_ca_file", "kafka_ssl_cert_file", "kafka_ssl_key_file"):
            path = getattr(settings, name)
            if path is not None and not Path(path).is_file():
                problems.append(f"{TLS_VARIABLES[name]}: no file at {path}")
    if protocol != "PLAINTEXT" and settings.kafka_bootstrap is None:
        problems.append(f"{PROTOCOL}={protocol} needs CXR_KAFKA_BOOTSTRAP (the embedded "
                        f"broker speaks PLAINTEXT only)")
    return problems


@dataclass(frozen=True)
class Security:
    """The security part of every client's options; equal settings, equal objects."""

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None  # never printed: repr below
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    key_password: str | None = None
    check_hostname: bool = True

    @classmethod
    def of(cls, settings: Settings) -> Security:
        def secret(value: Any) -> str | None:
            return None if value is None else str(value.get_secret_value())

        def path(value: Path | None) -> str | None:
            return None if value is None else str(value)

        return cls(settings.kafka_security_protocol, settings.kafka_sasl_mechanism,
                   settings.kafka_sasl_username, secret(settings.kafka_sasl_password),
                   path(settings.kafka_ssl_ca_file), path(settings.kafka_ssl_cert_file),
                   path(settings.kafka_ssl_key_file), secret(settings.kafka_ssl_key_password),
                   settings.kafka_ssl_check_hostname)

    def __repr__(self) -> str:
        return (f"Security(protocol={self.protocol}, mechanism={self.mechanism}, "
                f"username={self.username}, client_certificate={self.cert_file is not None})")

    @property
    def tls(self) -> bool:
        return uses_tls(self.protocol)

    @property
    def sasl(self) -> bool:
        return uses_sasl(self.protocol)

    def ssl_context(self) -> ssl.SSLContext | None:
        return _ssl_context(self) if self.tls else None

    def client_options(self) -> dict[str, Any]:
        """aiokafka's keyword arguments for this security (producers, consumers, admins)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password)
        return options

    def faust_credentials(self) -> Any:
        """Faust's `broker_credentials` (None for PLAINTEXT)."""
        import faust

        if self.sasl:
            return faust.SASLCredentials(username=self.username, password=self.password,
                                         ssl_context=self.ssl_context(),
                                         mechanism=self.mechanism)
        if self.tls:
            return faust.SSLCredentials(self.ssl_context())
        return None

    @property
    def principal(self) -> str:
        """Who the brokers will take us for, as far as the client can tell."""
        if self.sasl:
            return f"User:{self.username}"
        if self.cert_file:
            return "the client certificate's name"
        return "User:ANONYMOUS"

    def describe(self) -> str:
        """For logs and status: what is used, never the secrets."""
        parts = [self.protocol]
        if self.sasl:
            parts.append(f"{self.mechanism} as {self.username}")
        if self.cert_file:
            parts.append("client certificate")
        return ", ".join(parts)


@cache
def _ssl_context(security: Security) -> ssl.SSLContext:
    """One context per distinct setting in a process (certificates are read once)."""
    from cxone_router.errors import ConfigurationError

    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=security.ca_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(f"CXR_KAFKA_SSL_CA_FILE: not a PEM CA bundle "
                                 f"({type(exc).__name__})") from None
    context.check_hostname = security.check_hostname
    if security.cert_file and security.key_file:
        try:
            context.load_cert_chain(security.cert_file, security.key_file,
                                    security.key_password)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigurationError(
                "CXR_KAFKA_SSL_CERT_FILE / CXR_KAFKA_SSL_KEY_FILE: cannot load the client "
                "certificate (not PEM, a key that does not match it, or a wrong "
                f"CXR_KAFKA_SSL_KEY_PASSWORD: {type(exc).__name__})") from None
    return context
