"""Kafka client settings, in one place: safe defaults, Kafka-specific bits behind settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    CorruptRecordException,
    InvalidProducerEpoch,
    InvalidTimestampError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnknownProducerId,
)

from cxone_router.dlq import Reason
from cxone_router.kafka.security import Security
from cxone_router.settings import Settings


def require_bootstrap(settings: Settings) -> str:
    from cxone_router.errors import ConfigurationError

    if not settings.kafka_bootstrap:
        raise ConfigurationError(
            "CXR_KAFKA_BOOTSTRAP is not set: point it at a Kafka cluster, "
            "or run `cxone-router dev`, which starts the embedded broker"
        )
    return settings.kafka_bootstrap


# Room for what travels with a body: the edge's and the worker's headers, a dead letter's
# reasons (its error message is capped at 2,000 characters) and Kafka's record framing.
RECORD_HEADROOM_BYTES = 64 * 1024


def record_limit(settings: Settings) -> int:
    """The one size limit of a record, everywhere: producers' `max_request_size` and the
    topics' `max.message.bytes`. A body the edge accepts (`CXR_MAX_BODY_BYTES`) fits in
    it on the raw topic and again as a dead letter; a normalized record can outgrow it
    (a form's `%01` is one byte, `\\u0001` in JSON six) and is then dead-lettered."""
    return settings.max_body_bytes + RECORD_HEADROOM_BYTES


@dataclass(frozen=True)
class Connection:
    """Where the brokers are and how to reach them (TLS, SASL): the one place every Kafka
    client of the project is made, so that none connects without the security settings."""

    bootstrap: str
    security: Security = field(default_factory=Security)

    @classmethod
    def of(cls, settings: Settings, bootstrap: str | None = None) -> Connection:
        """`bootstrap` where it is known only at run time (a broker `dev` started); the
        client certificate is loaded here, so a bad one stops start-up."""
        security = Security.of(settings)
        security.ssl_context()
        return cls(bootstrap or require_bootstrap(settings), security)

    def options(self, **options: Any) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap, **self.security.client_options(),
                **options}

    def producer(self, **options: Any) -> AIOKafkaProducer:
        return AIOKafkaProducer(**self.options(**options))

    def consumer(self, *topics: str, **options: Any) -> AIOKafkaConsumer:
        """Reads committed data only (`read_committed`): the writes of an exactly-once
        worker's aborted transactions are never seen (the same as read_uncommitted on
        topics written without transactions)."""
        options.setdefault("isolation_level", "read_committed")
        return AIOKafkaConsumer(*topics, **self.options(**options))

    def admin(self, **options: Any) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**self.options(**options))

    def pipeline_producer(self, settings: Settings) -> AIOKafkaProducer:
        """The pipeline's own writes: acks=all, idempotent on a real cluster."""
        return self.producer(**producer_config(settings))


def producer_config(settings: Settings) -> dict[str, Any]:
    """acks=all always; idempotence on for a real cluster (the embedded broker cannot)."""
    return {
        "acks": "all",
        "enable_idempotence": settings.idempotence,
        "linger_ms": settings.linger_ms,
        "request_timeout_ms": max(1000, int(settings.publish_timeout_seconds * 1000)),
        "retry_backoff_ms": 100,
        "max_request_size": record_limit(settings),
    }


# After these an idempotent producer cannot go on: its producer id and sequence numbers no
# longer match what the brokers keep (seen once all three brokers restarted: every write
# failed with OutOfOrderSequenceNumber until the process was restarted). Only a new
# producer, with a new producer id, writes again.
BROKEN_PRODUCER_ERRORS: tuple[type[Exception], ...] = (
    OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced,
)

# A write refused for one of these is refused again however often it is sent: the record
# itself is wrong for the topic (too large, corrupt, a timestamp out of its range).
# Everything else (a broker away, a leader moving, a timeout) may pass on a retry.
RECORD_TOO_LARGE_ERRORS: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError,
)
REFUSED_RECORD_ERRORS = (*RECORD_TOO_LARGE_ERRORS, CorruptRecordException,
                         InvalidTimestampError)


def refused_reason(error: BaseException) -> Reason:
    """The dead-letter reason of a record the broker refused for good."""
    return Reason.TOO_LARGE if isinstance(error, RECORD_TOO_LARGE_ERRORS) \
        else Reason.WRITE_REFUSED
