"""Dead letters: why an event is one (`Reason`, carried by a `DeadLetterError`), and the
envelope: the original bytes unchanged, headers that say why."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

from cxone_router.errors import CxoneRouterError
from cxone_router.kafka.headers import DLQ_ATTEMPT, DLQ_PREFIX, Headers
from cxone_router.ops.times import utc_iso

_MAX_MESSAGE = 2000


class Reason(StrEnum):
    """Why an event was dead-lettered. The values are a contract: the `cxr-dlq-reason`
    header, `dlq list --reason` and the `reason` label of `cxr_dead_letters_total`."""

    INVALID_JSON = "invalid_json"
    MISSING_FIELD = "missing_field"
    UNKNOWN_CHANNEL = "unknown_channel"
    SCHEMA_VIOLATION = "schema_violation"
    PROCESSING_ERROR = "processing_error"  # anything unforeseen: a bug to look at
    TOO_LARGE = "too_large"  # an output the broker refuses for its size
    WRITE_REFUSED = "write_refused"  # an output the broker refuses for good otherwise


class DeadLetterError(CxoneRouterError):
    """An event that cannot be processed: each subclass names its `reason`; `channel` is
    the channel detected before it failed, if any."""

    reason: ClassVar[Reason] = Reason.PROCESSING_ERROR

    def __init__(self, message: str, channel: str | None = None) -> None:
        super().__init__(message)
        self.channel = channel


def reason_of(error: BaseException) -> Reason:
    """The dead-letter reason of any exception: an unforeseen one is a processing error."""
    return error.reason if isinstance(error, DeadLetterError) else Reason.PROCESSING_ERROR


def channel_of(error: BaseException) -> str | None:
    """The channel detected before `error`, when it says."""
    return error.channel if isinstance(error, DeadLetterError) else None


def dead_letter_headers(
    *, reason: Reason, stage: str, error: BaseException, source_topic: str,
    source_partition: int, source_offset: int, source_headers: dict[str, bytes],
) -> Headers:
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
