"""Ingest: raw webhook -> dedup -> normalize -> the channel topic and every matching
fan-out topic, in one acknowledged write (or the DLQ).

One pass, not a second agent reading the channel topics back: each event costs one
consume instead of two, and the fan-out records wait for no second hop."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson

from agents.dedup import DedupIndex
from agents.delivery import Output, Writer
from agents.fanout import Fanout
from pipeline import metrics
from pipeline.dlq import dead_letter_headers
from pipeline.kafka.headers import CONTENT_TYPE, as_dict, received_ns
from pipeline.mapping import Normalizer
from pipeline.payload import InvalidPayload, UnsupportedMediaType, decode

log = logging.getLogger(__name__)
STAGE = "ingest"


class Ingest:
    def __init__(self, normalizer: Normalizer, dedup: DedupIndex,
                 channel_topics: dict[str, str], fanout: Fanout, dlq_topic: str,
                 writer: Writer) -> None:
        self._normalizer = normalizer
        self._dedup = dedup
        self._channel_topics = channel_topics
        self._fanout = fanout
        self._dlq = dlq_topic
        self._writer = writer

    async def handle(self, events: Sequence[Any]) -> None:
        now_ms = int(time.time() * 1000)
        outputs: list[Output] = []
        marks: list[tuple[int, str]] = []
        in_batch: set[str] = set()
        latencies: list[int] = []
        for event in events:
            message = event.message
            headers = as_dict(message.headers)
            try:
                processed = self._process(message, headers, now_ms, in_batch)
            except Exception as exc:  # noqa: BLE001 - nothing may escape an agent
                reason = getattr(exc, "reason", "processing_error")
                if reason == "processing_error":
                    log.exception("ingest failed", extra={"offset": message.offset})
                metrics.EVENTS.labels(STAGE, reason).inc()
                outputs.append(self._dead_letter(message, headers, exc, reason))
                continue
            if processed is None:
                metrics.EVENTS.labels(STAGE, "duplicate").inc()
                continue
            metrics.EVENTS.labels(STAGE, "normalized").inc()
            outputs.extend(processed[0])
            marks.append(processed[1])
            if (ns := received_ns(headers)) is not None:
                latencies.append(ns)
        await self._writer.deliver(outputs)
        await self._dedup.mark(marks, now_ms)
        done_ns = time.time_ns()
        for ns in latencies:
            metrics.PIPELINE_LATENCY_SECONDS.observe((done_ns - ns) / 1e9)

    def _process(self, message: Any, headers: dict[str, bytes], now_ms: int,
                 in_batch: set[str]) -> tuple[list[Output], tuple[int, str]] | None:
        """The channel and fan-out records and the dedup mark; None for a duplicate."""
        content_type = headers.get(CONTENT_TYPE, b"application/json").decode("latin-1")
        if message.value is None:
            raise InvalidPayload("empty record")
        try:
            payload = decode(message.value, content_type)
        except UnsupportedMediaType as exc:
            raise InvalidPayload(str(exc)) from None
        keys = self._normalizer.keys(payload)
        dedup_key = self._dedup.key(message.partition, keys.idempotency_key)
        if dedup_key in in_batch or self._dedup.seen(dedup_key, now_ms):
            return None
        record = self._normalizer.normalize(payload, received_ns(headers) or time.time_ns(), keys)
        key, value, forwarded = (record["interactionId"].encode(), orjson.dumps(record),
                                 list(headers.items()))
        outputs = [Output(self._channel_topics[record["channel"]], key, value, forwarded),
                   *self._fanout.outputs(record, key, value, forwarded)]
        in_batch.add(dedup_key)
        return outputs, (message.partition, dedup_key)

    def _dead_letter(self, message: Any, headers: dict[str, bytes], exc: BaseException,
                     reason: str) -> Output:
        dlq_headers = dead_letter_headers(
            reason=reason, stage=STAGE, error=exc, source_topic=message.topic,
            source_partition=message.partition, source_offset=message.offset,
            source_headers=headers,
        )
        return Output(self._dlq, message.key, message.value or b"", dlq_headers)

