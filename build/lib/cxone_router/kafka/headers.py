"""Kafka header names the edge writes and the agents read and forward."""

from __future__ import annotations

from collections.abc import Iterable

CONTENT_TYPE = "content-type"
RECEIVED_NS = "cxr-received-ns"
REQUEST_ID = "cxr-request-id"
DLQ_PREFIX = "cxr-dlq-"
DLQ_ATTEMPT = "cxr-dlq-attempt"
DLQ_BODY_OMITTED = "cxr-dlq-body-omitted"  # the value is empty: the DLQ refused the body
REPLAYED_FROM = "cxr-replayed-from"  # `dlq replay`: the dead letter's topic:partition:offset
MAPPING_VERSION = "cxr-mapping-version"  # on channel and fan-out records: their mappings
REPROCESSED = "cxr-reprocessed"  # written by `cxone-router reprocess`: when it ran

Headers = list[tuple[str, bytes]]


def as_dict(headers: Iterable[tuple[str, bytes]] | dict[str, bytes] | None) -> dict[str, bytes]:
    if not headers:
        return {}
    if isinstance(headers, dict):
        return headers
    return {k: v for k, v in headers}


def received_ns(headers: dict[str, bytes]) -> int | None:
    raw = headers.get(RECEIVED_NS)
    try:
        return int(raw) if raw else None
    except ValueError:
        return None
