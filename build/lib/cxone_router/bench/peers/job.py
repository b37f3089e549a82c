"""The job every candidate runs, on the project's own transform: a raw webhook record ->
dedup by idempotency key -> `EventOutputs.build` -> its channel record and fan-out records,
with the headers the worker writes (or a dead letter).

The transform objects are built as `agents/app.py` `create_app` builds them, without
Faust; each candidate brings its own dedup state (`seen` and the mark it keeps)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cxone_router.agents.dedup import DedupIndex
from cxone_router.agents.delivery import Output
from cxone_router.agents.fanout import Fanout
from cxone_router.agents.outputs import EventOutputs, decode_raw
from cxone_router.dlq import dead_letter_headers, reason_of
from cxone_router.kafka.headers import as_dict
from cxone_router.kafka.topics import Topics
from cxone_router.mapping import Normalizer
from cxone_router.routing import load_routes
from cxone_router.settings import Settings


def output_topics(t: Topics) -> list[str]:
    """Every topic a candidate may write: the channels, the fan-out routes, the DLQ."""
    return [*(t.channel(c) for c in t.channels), *(t.fanout(r) for r in t.routes), t.dlq]


class Job:
    """One event at a time, as `agents.ingest.Ingest._process` does it."""

    def __init__(self, settings: Settings, prefix: str | None = None) -> None:
        normalizer = Normalizer.from_dir(settings.schemas_dir)
        routes = load_routes(settings.schemas_dir)
        self.topics = Topics.of(prefix or settings.topic_prefix, normalizer, routes)
        key = settings.redaction_key.get_secret_value() if settings.redaction_key else None
        fanout = Fanout(routes, {r.name: self.topics.fanout(r.name) for r in routes},
                        key.encode() if key else None)
        self._normalizer = normalizer
        self._outputs = EventOutputs(
            normalizer, {c: self.topics.channel(c) for c in normalizer.channels}, fanout)
        self._max_form_fields = settings.max_form_fields
        self.ttl_ms = int(settings.dedup_ttl_seconds * 1000)

    @property
    def output_topics(self) -> list[str]:
        return output_topics(self.topics)

    def handle(self, topic: str, partition: int, offset: int, key: bytes | None,
               value: bytes | None, headers: Any,
               seen: Callable[[str], bool]) -> tuple[str | None, list[Output]]:
        """The dedup key to mark once the outputs are written (None: nothing to mark) and
        the outputs: none for a duplicate, one dead letter for an event that fails."""
        headers = as_dict(headers)
        try:
            payload = decode_raw(value, headers, self._max_form_fields,
                                 self._normalizer.form_names)
            keys = self._normalizer.keys(payload)
            dedup_key = DedupIndex.key(partition, keys.idempotency_key)
            if seen(dedup_key):
                return None, []
            _, outputs = self._outputs.build(payload, headers, keys)
            return dedup_key, outputs
        except Exception as exc:  # noqa: BLE001 - a dead letter, as the worker writes it
            return None, [Output(self.topics.dlq, key, value or b"", dead_letter_headers(
                reason=reason_of(exc), stage="ingest", error=exc, source_topic=topic,
                source_partition=partition, source_offset=offset, source_headers=headers))]
