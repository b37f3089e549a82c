"""Kafka client settings, in one place: safe defaults, Kafka-specific bits behind settings."""

from __future__ import annotations

from typing import Any

from aiokafka.errors import (
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from pipeline.settings import Settings


def require_bootstrap(settings: Settings) -> str:
    from pipeline.errors import ConfigurationError

    if not settings.kafka_bootstrap:
        raise ConfigurationError(
            "CXR_KAFKA_BOOTSTRAP is not set: point it at a Kafka cluster, "
            "or run `cxone-router dev`, which starts the embedded broker"
        )
    return settings.kafka_bootstrap


def producer_config(settings: Settings, bootstrap: str) -> dict[str, Any]:
    """acks=all always; idempotence on for a real cluster (the embedded broker cannot)."""
    return {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": settings.idempotence,
        "linger_ms": settings.linger_ms,
        "request_timeout_ms": max(1000, int(settings.publish_timeout_seconds * 1000)),
        "retry_backoff_ms": 100,
        "max_request_size": max(1_048_576, settings.max_body_bytes + 64 * 1024),
    }


# After these an idempotent producer cannot go on: its producer id and sequence numbers no
# longer match what the brokers keep (seen once all three brokers restarted: every write
# failed with OutOfOrderSequenceNumber until the process was restarted). Only a new
# producer, with a new producer id, writes again.
BROKEN_PRODUCER_ERRORS: tuple[type[Exception], ...] = (
    OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced,
)
