"""The dead-letter envelope: the original bytes unchanged, headers that say why."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.kafka.headers import DLQ_ATTEMPT, DLQ_PREFIX, Headers
from pipeline.ops.times import utc_iso

REASONS = ("invalid_json", "missing_field", "unknown_channel", "schema_violation",
           "processing_error", "too_large", "write_refused")
_MAX_MESSAGE = 2000


def dead_letter_headers(
    *, reason: str, stage: str, error: BaseException, source_topic: str,
    source_partition: int, source_offset: int, source_headers: dict[str, bytes],
) -> Headers:
    if reason not in REASONS:
        reason = "processing_error"
    try:
        attempt = int(source_headers.get(DLQ_ATTEMPT, b"0")) + 1
    except ValueError:
        attempt = 1
    kept = [(k, v) for k, v in source_headers.items() if not k.startswith(DLQ_PREFIX)]
    failed_at = utc_iso(datetime.now(UTC))
    why = {
        "reason": reason,
        "stage": stage,
        "error-class": type(error).__name__,
        "error-message": str(error)[:_MAX_MESSAGE],
        "source-topic": source_topic,
        "source-partition": str(source_partition),
        "source-offset": str(source_offset),
        "failed-at": failed_at,
        "attempt": str(attempt),
    }
    return kept + [(DLQ_PREFIX + k, v.encode("utf-8", "replace")) for k, v in why.items()]
