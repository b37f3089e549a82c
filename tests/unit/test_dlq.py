from __future__ import annotations

from pipeline.dlq import dead_letter_headers


def test_headers_say_why_and_keep_the_source_headers() -> None:
    headers = dict(dead_letter_headers(
        reason="missing_field", stage="ingest", error=ValueError("no interaction id"),
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
        reason="schema_violation", stage="ingest", error=RuntimeError("x"), source_topic="t",
        source_partition=0, source_offset=1, source_headers={}))
    again = dead_letter_headers(
        reason="not-a-reason", stage="ingest", error=RuntimeError("y" * 5000), source_topic="t",
        source_partition=0, source_offset=9, source_headers=first)
    names = [k for k, _ in again]
    assert names.count("cxr-dlq-reason") == 1
    values = dict(again)
    assert values["cxr-dlq-attempt"] == b"2"
    assert values["cxr-dlq-reason"] == b"processing_error"  # unknown reasons are not invented
    assert len(values["cxr-dlq-error-message"]) == 2000
