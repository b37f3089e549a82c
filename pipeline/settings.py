"""Typed settings, read once at start-up from `CXR_*` environment variables."""

from __future__ import annotations

import difflib
import importlib.resources
import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cxone_router.errors import ConfigurationError

ENV_PREFIX = "CXR_"
# Settings that hold a secret: each may also be read from the file CXR_<NAME>_FILE names.
SECRET_FIELDS = ("edge_hmac_secrets", "edge_bearer_tokens", "edge_basic_users",
                 "redaction_key", "kafka_sasl_password", "kafka_ssl_key_password")
REPO_ROOT = Path(__file__).resolve().parent.parent  # a checkout's (installed: site-packages)


def packaged_schemas() -> Path:
    """The runtime files (mappings, routes, SLOs, JSON Schemas) the package carries: the
    wheel puts a checkout's schemas/ inside it (pyproject.toml); a checkout, or an editable
    install of one, reads schemas/ itself."""
    carried = importlib.resources.files("cxone_router") / "schemas"
    if isinstance(carried, Path) and carried.is_dir():
        return carried
    return REPO_ROOT / "schemas"


def scratch_dir() -> Path:
    """The user's cache folder: never one inside the package, which may be read-only once
    installed."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cxone-router"


class Settings(BaseSettings):
    """Everything the edge, the worker and the CLI read from the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # Kafka
    kafka_bootstrap: str | None = Field(
        None, description="host:port[,host:port]; unset = start the embedded broker"
    )
    kafka_idempotence: bool | None = Field(
        None, description="idempotent producer; unset = on for a real cluster, off embedded"
    )
    replication_factor: int = Field(1, ge=1, le=7)
    topic_prefix: str = "cxone"
    partitions: int = Field(6, ge=1, le=1024)
    publish_timeout_seconds: float = Field(5.0, gt=0, le=120)
    edge_linger_ms: int | None = Field(
        None, ge=0, le=100, description="edge producer batching; unset = 0 embedded, 2 real"
    )
    embedded_broker_port: int = Field(19092, ge=0, le=65535, description="0 = any free port")

    # Kafka security: the names Kafka's own clients use (security.protocol, sasl.mechanism…)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how every client connects: TLS (SSL), SASL, or both"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="required with SASL_SSL or SASL_PLAINTEXT"
    )
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_file: Path | None = Field(
        None, description="PEM CA bundle to trust the brokers; unset = the system's"
    )
    kafka_ssl_cert_file: Path | None = Field(None, description="PEM client certificate (mTLS)")
    kafka_ssl_key_file: Path | None = Field(None, description="PEM private key of that cert")
    kafka_ssl_key_password: SecretStr | None = Field(None, description="when the key is encrypted")
    kafka_ssl_check_hostname: bool = Field(
        True, description="the broker's certificate must name the host dialled"
    )

    # Edge
    edge_host: str = "127.0.0.1"
    edge_port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(1024 * 1024, ge=64, le=64 * 1024 * 1024)
    max_form_fields: int = Field(200, ge=1, le=10_000)
    edge_rate_limit: float = Field(
        20_000, ge=0, description="webhooks/s the edge accepts before answering 429; 0 = off"
    )
    edge_max_connections: int = Field(4096, ge=1, description="beyond this uvicorn answers 503")
    edge_header_timeout_seconds: float = Field(
        10, gt=0, le=300, description="a request's headers must arrive within this, or 408"
    )
    edge_body_timeout_seconds: float = Field(
        15, gt=0, le=600, description="its body must arrive within this after them, or 408"
    )
    edge_max_header_bytes: int = Field(
        32 * 1024, ge=1024, le=1024 * 1024, description="request line and headers, or 431"
    )
    edge_admin_host: str | None = Field(None, description="unset = CXR_EDGE_HOST")
    edge_admin_port: int | None = Field(
        None, ge=0, le=65535,
        description="serve /metrics, /readyz and /healthz here, off the webhook port",
    )

    # Edge authentication. CXone documents no signing for interaction events; where its
    # products sign, it is HMAC-SHA256 of "{timestamp}.{body}" sent as "sha256=<hex>".
    edge_auth: Literal["none", "hmac", "bearer", "basic"] = "none"
    edge_allow_unauthenticated: bool = Field(
        False, description="allow edge_auth=none on a non-loopback address"
    )
    edge_hmac_secrets: SecretStr | None = Field(None, description="comma-separated, for rotation")
    edge_hmac_signature_header: str = "X-Signature"
    edge_hmac_timestamp_header: str = "X-Timestamp"
    edge_hmac_template: str = "{timestamp}.{body}"
    edge_hmac_tolerance_seconds: int = Field(300, ge=1, le=86_400)
    edge_hmac_allow_replay: bool = Field(
        False, description="accept a template without {timestamp} (no replay window)"
    )
    edge_bearer_tokens: SecretStr | None = Field(None, description="comma-separated")
    edge_basic_users: SecretStr | None = Field(None, description="user:password,...")

    # Worker
    dedup_ttl_seconds: float = Field(3600, gt=0)
    worker_batch_size: int = Field(500, ge=1, le=10_000,
                                   description="raw records transformed and queued together")
    worker_max_in_flight_events: int = Field(
        5_000, ge=1, le=1_000_000,
        description="raw records taken while earlier writes are unacknowledged, at most")
    worker_commit_interval_seconds: float | None = Field(
        None, gt=0, le=60,
        description="how often wholly written offsets are committed (a transaction each); "
                    "unset = 0.1 exactly once (what downstream waits), 1 at least once")
    processing_guarantee: Literal["at_least_once", "exactly_once"] | None = Field(
        None, description="unset = exactly_once where the broker can do transactions")
    worker_write_timeout_seconds: float = Field(
        1200.0, gt=0, le=1200,
        description="a worker's write unanswered this long fails (and ours are sent again)"
    )
    # Group membership. Short defaults keep start-up and failover fast (the embedded broker
    # holds a new group's first join for about the rebalance timeout); raise them for
    # workers with long pauses.
    rebalance_timeout_seconds: float = Field(3.0, gt=0, le=600)
    session_timeout_seconds: float = Field(10.0, gt=0, le=600)
    fetch_max_wait_ms: int | None = Field(
        None, ge=1, le=30_000, description="consumer long-poll; unset = 10 embedded, 500 real"
    )
    group_instance_id: str | None = Field(
        None, description="static group membership: a stable id, unique per worker"
    )
    metrics_host: str = Field("127.0.0.1", description="where a worker serves /metrics")
    metrics_port: int = Field(
        9102, ge=0, le=65535, description="a worker's /metrics; 0 = any free port (logged)"
    )
    lag_check_seconds: float = Field(5.0, gt=0, le=300, description="consumer lag check period")
    redaction_key: SecretStr | None = Field(
        None, description="HMAC-SHA256 key of fan-out routes' `hash` redaction; the same for "
        "every worker (hashes change with it); unset = a route that hashes stops start-up"
    )
    data_dir: Path = Field(default_factory=scratch_dir, description="Faust's local state "
                           "folder; unset = ~/.cache/cxone-router (XDG_CACHE_HOME)")

    # Operator commands
    dlq_max_attempts: int = Field(
        5, ge=1, le=1000, description="`dlq replay` leaves a dead letter whose attempt count "
        "has reached this (and reports it)"
    )

    # Data-driven parts
    schemas_dir: Path = Field(
        default_factory=packaged_schemas, validate_default=True,
        description="mappings/, routes.json, slos.json and the record's JSON Schema; unset = "
        "the ones the package carries")

    # Logs
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Every secret can come from a file instead (Docker and Kubernetes secrets): CXR_X_FILE.
    edge_hmac_secrets_file: Path | None = None
    edge_bearer_tokens_file: Path | None = None
    edge_basic_users_file: Path | None = None
    redaction_key_file: Path | None = None
    kafka_sasl_password_file: Path | None = None
    kafka_ssl_key_password_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: object) -> object:
        """CXR_X_FILE holds CXR_X (one trailing newline dropped); both set is a mistake."""
        if not isinstance(data, dict):
            return data
        for name in SECRET_FIELDS:
            path = data.get(f"{name}_file")
            if path in (None, ""):
                continue
            variable = f"{ENV_PREFIX}{name.upper()}"
            if data.get(name) not in (None, ""):
                raise ValueError(f"{variable} and {variable}_FILE are both set: keep one")
            try:
                text = Path(str(path)).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"{variable}_FILE: cannot read {path} "
                                 f"({type(exc).__name__})") from None
            data = {**data, name: text.removesuffix("\n").removesuffix("\r")}
        return data

    @field_validator("topic_prefix")
    @classmethod
    def _topic_prefix_is_legal(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 100)")
        return value

    @field_validator("schemas_dir")
    @classmethod
    def _schemas_dir_has_the_runtime_files(cls, value: Path) -> Path:
        from cxone_router.mapping.normalizer import RECORD_SCHEMA
        from cxone_router.mapping.spec import COMMON_FILE
        from cxone_router.observability.slo import SLO_FILE
        from cxone_router.routing import ROUTES_FILE

        needed = (f"mappings/{COMMON_FILE}", ROUTES_FILE, SLO_FILE, RECORD_SCHEMA)
        if missing := [name for name in needed if not (value / name).is_file()]:
            raise ValueError(f"{value} has no {', '.join(missing)} (unset, the package's "
                             "own files are read)")
        return value

    @field_validator("redaction_key")
    @classmethod
    def _redaction_key_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("use at least 16 characters (a short key makes hashes guessable)")
        return value

    @model_validator(mode="after")
    def _kafka_security_is_whole(self) -> Settings:
        from cxone_router.kafka.security import security_problems

        if problems := security_problems(self):
            raise ValueError("; ".join(problems))
        return self

    @property
    def embedded(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def webhook_url(self) -> str:
        """Where a client posts webhooks to this edge (one listening on every address is
        reached on loopback)."""
        return f"{self._client_base(self.edge_host, self.edge_port)}/webhooks/cxone"

    @property
    def edge_metrics_url(self) -> str:
        """The edge's /metrics: on its admin port when it has one."""
        base = self._client_base(self.edge_admin_host or self.edge_host,
                                 self.edge_admin_port or self.edge_port)
        return f"{base}/metrics"

    @property
    def worker_metrics_url(self) -> str:
        return f"{self._client_base(self.metrics_host, self.metrics_port)}/metrics"

    @staticmethod
    def _client_base(host: str, port: int) -> str:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def fetch_wait_ms(self) -> int:
        if self.fetch_max_wait_ms is not None:
            return self.fetch_max_wait_ms
        return 10 if self.embedded else 500

    @property
    def linger_ms(self) -> int:
        """Waiting 2 ms lets concurrent webhooks share a produce request: on a three-node
        cluster it carried 48 % more webhooks/s on the same CPU (170 -> 252 on 2 cores)."""
        if self.edge_linger_ms is not None:
            return self.edge_linger_ms
        return 0 if self.embedded else 2

    @property
    def idempotence(self) -> bool:
        if self.kafka_idempotence is not None:
            return self.kafka_idempotence
        return not self.embedded

    @property
    def transactions(self) -> bool:
        """Whether the broker can do transactions: a broker that cannot do idempotent
        writes cannot (the embedded one; its aborted writes are also visible to
        read_committed readers)."""
        return self.idempotence

    @property
    def exactly_once(self) -> bool:
        """The worker's processing guarantee, as it will run."""
        return self.processing_guarantee != "at_least_once" and self.transactions

    @property
    def commit_interval(self) -> float:
        """Exactly once, read_committed readers see a record once its transaction commits:
        Kafka Streams' 100 ms, not its 30 s of at-least-once (here 1 s)."""
        if self.worker_commit_interval_seconds is not None:
            return self.worker_commit_interval_seconds
        return 0.1 if self.exactly_once else 1.0


def configuration_error(exc: ValidationError, prefix: str, what: str) -> ConfigurationError:
    """Name each bad variable and say what is wrong, without echoing its value."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        where = f"{prefix}{field.upper()}: " if field else ""
        problems.append(f"{where}{error['msg'].removeprefix('Value error, ')}")
    return ConfigurationError(f"invalid {what}: " + "; ".join(problems))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# CXR_* variables that are not settings of the pipeline's processes.
NOT_SETTINGS = {"CXR_TEST_BROKERS"}  # which brokers the integration suite runs on
_warned: set[str] = set()


def warn_unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A misspelt variable (CXR_PARTITION=3) would be ignored without a word: name it, with
    the setting it probably meant. Returns the unknown names."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | NOT_SETTINGS
    unknown = sorted(name for name in (os.environ if environ is None else environ)
                     if name.startswith(ENV_PREFIX) and not name.startswith("CXR_CXONE_")
                     and name not in known)
    for name in unknown:
        if name not in _warned:
            _warned.add(name)
            guess = difflib.get_close_matches(name, sorted(known), n=1)
            logging.getLogger(__name__).warning(
                "unknown setting %s ignored%s", name,
                f" (did you mean {guess[0]}?)" if guess else "")
    return unknown


def load_settings(**overrides: object) -> Settings:
    """Read the environment once; a bad value stops start-up naming the variable, an
    unknown CXR_* variable is named in a warning."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise configuration_error(exc, ENV_PREFIX, "settings") from None
    warn_unknown_variables()
    return settings


def load_command_settings() -> Settings:
    """An operator's command (`tail`, `dlq`, `status`…): with CXR_KAFKA_BOOTSTRAP unset, a
    running `cxone-router dev` stack supplies what the environment leaves unset."""
    from cxone_router.devstack import discovered_overrides

    return load_settings(**discovered_overrides())
