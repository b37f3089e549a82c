from __future__ import annotations

from cxone_router.agents.fanout import RoutingError
from cxone_router.dlq import Reason, dead_letter_headers, reason_of
from cxone_router.mapping.errors import MissingField, SchemaViolation, UnknownChannel
from cxone_router.payload import InvalidPayload

# On the wire (`cxr-dlq-reason`), in `dlq list --reason` and in the metrics' `reason` label
WIRE_REASONS = ["invalid_json", "missing_field", "unknown_channel", "schema_violation",
                "processing_error", "too_large", "write_refused"]


def test_the_reasons_are_the_strings_consumers_and_dashboards_know() -> None:
    assert list(Reason) == WIRE_REASONS
    assert [str(r) for r in Reason] == WIRE_REASONS and [f"{r}" for r in Reason] == WIRE_REASONS


def test_each_error_carries_its_reason_and_anything_else_is_a_processing_error() -> None:
    assert [reason_of(e("x")) for e in (InvalidPayload, MissingField, UnknownChannel,
                                        SchemaViolation, RoutingError, KeyError)] == [
        "invalid_json", "missing_field", "unknown_channel", "schema_violation",
        "processing_error", "processing_error"]


def test_headers_say_why_and_keep_the_source_headers() -> None:
    headers = dict(dead_letter_headers(
        reason=Reason.MISSING_FIELD, stage="ingest", error=ValueError("no interaction id"),
        source_topic="cxone.webhooks.raw", source_partition=3, source_offset=42,
        source_headers={"content-type": b"application/json", "cxr-request-id": b"r1"}))
    assert headers["content-type"] == b"application/json"
    assert headers["cxr-request-id"] == b"r1"
    assert headers["cxr-dlq-reason"] == b"missing_field"
    assert headers["cxr-dlq-error-class"] == b"ValueError"
    assert headers["cxr-dlq-source-partition"] == b"3"
    assert headers["cxr-dlq-source-offset"] == b"42"
    assert headers["cxr-dlq-attempt"] == b"1"


def test_a_replayed_dead_letter_counts_its_attempts_and_replaces_old_reasons() -> None:
    first = dict(dead_letter_headers(
        reason=Reason.SCHEMA_VIOLATION, stage="ingest", error=RuntimeError("x"), source_topic="t",
        source_partition=0, source_offset=1, source_headers={}))
    again = dead_letter_headers(
        reason=Reason.PROCESSING_ERROR, stage="ingest", error=RuntimeError("y" * 5000),
        source_topic="t",
        source_partition=0, source_offset=9, source_headers=first)
    names = [k for k, _ in again]
    assert names.count("cxr-dlq-reason") == 1
    values = dict(again)
    assert values["cxr-dlq-attempt"] == b"2"
    assert values["cxr-dlq-reason"] == b"processing_error"  # the first reason is replaced
    assert len(values["cxr-dlq-error-message"]) == 2000
