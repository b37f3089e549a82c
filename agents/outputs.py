"""What one raw event becomes: its channel record and its fan-out records (redacted per
route), with the headers they carry. The ingest agent and `cxone-router reprocess` share
it, so a reprocessed record is what a worker on the same mappings writes."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson

from cxone_router.agents.delivery import Output
from cxone_router.agents.fanout import Fanout
from cxone_router.kafka.headers import CONTENT_TYPE, MAPPING_VERSION, received_ns
from cxone_router.mapping import EventKeys, Normalizer
from cxone_router.payload import FieldNames, InvalidPayload, UnsupportedMediaType, decode

JSON_CONTENT_TYPE = b"application/json"


def decode_raw(value: bytes | None, headers: dict[str, bytes], max_form_fields: int,
               form_names: FieldNames | None = None) -> dict[str, Any]:
    """A raw record's body as a JSON object, by its `content-type` header; a form's field
    names in the mappings' letter case (`Normalizer.form_names`)."""
    content_type = headers.get(CONTENT_TYPE, b"application/json").decode("latin-1")
    if value is None:
        raise InvalidPayload("empty record")
    try:
        return decode(value, content_type, max_form_fields, form_names)
    except UnsupportedMediaType as exc:
        raise InvalidPayload(str(exc)) from None


class EventOutputs:
    """The normalizer and the fan-out, with the headers every output ends with (built
    once): `content-type: application/json`, `cxr-mapping-version`, then `extra`.

    The raw record's other headers come first, as they are: the edge writes only
    `content-type`, `cxr-received-ns` and `cxr-request-id` (`dlq replay` adds its own), so
    nothing is filtered but `content-type` (filtering more costs every event ~60 ns); were
    one of ours on a raw record, ours still comes last, where Kafka clients' last-header
    lookups and a dict of the headers find it."""

    def __init__(self, normalizer: Normalizer, channel_topics: dict[str, str],
                 fanout: Fanout, extra_headers: Iterable[tuple[str, bytes]] = ()) -> None:
        self._normalizer = normalizer
        self._channel_topics = channel_topics
        self._fanout = fanout
        self._tail = [(CONTENT_TYPE, JSON_CONTENT_TYPE),
                      (MAPPING_VERSION, normalizer.mapping_version.encode()), *extra_headers]

    def build(self, payload: dict[str, Any], headers: dict[str, bytes],
              keys: EventKeys) -> tuple[dict[str, Any], list[Output]]:
        """The normalized record, and its outputs: the channel record first, then one per
        matching route. Raises what normalizing or routing raises (a dead letter's reason)."""
        record = self._normalizer.normalize(payload, received_ns(headers) or time.time_ns(), keys)
        key, value = record["interactionId"].encode(), orjson.dumps(record)
        # the raw request's headers travel on, but the value is JSON now, whatever came in
        forwarded = [(k, v) for k, v in headers.items() if k != CONTENT_TYPE]
        forwarded.extend(self._tail)
        return record, [Output(self._channel_topics[record["channel"]], key, value, forwarded),
                        *self._fanout.outputs(record, key, value, forwarded)]
