"""Ingest: raw webhook -> dedup -> normalize -> the channel topic and every matching
fan-out topic, in one acknowledged write (or the DLQ).

One pass, not a second agent reading the channel topics back: each event costs one
consume instead of two, and the fan-out records wait for no second hop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cxone_router.agents.dedup import DedupIndex
from cxone_router.agents.delivery import Output, Refused, Sent, Writer
from cxone_router.agents.drain import Fetched
from cxone_router.agents.fanout import Fanout
from cxone_router.agents.metrics import (
    DEAD_LETTERED,
    DUPLICATE,
    NORMALIZED,
    UNKNOWN_CHANNEL,
    BatchCounts,
    WorkerMetrics,
)
from cxone_router.agents.outputs import EventOutputs, decode_raw
from cxone_router.dlq import Reason, channel_of, dead_letter_headers, reason_of
from cxone_router.kafka.clients import refused_reason
from cxone_router.kafka.headers import DLQ_BODY_OMITTED, REPLAYED_FROM, as_dict, received_ns
from cxone_router.mapping import Normalizer

log = logging.getLogger(__name__)
STAGE = "ingest"
DELIVER_STAGE = "deliver"


@dataclass(slots=True)
class Normalized:
    """One event's outputs (channel record first, then fan-out) and its dedup mark."""

    record: dict[str, Any]
    outputs: list[Output]
    mark: tuple[int, str]


class Ingest:
    def __init__(self, normalizer: Normalizer, dedup: DedupIndex,
                 channel_topics: dict[str, str], fanout: Fanout, dlq_topic: str,
                 metrics: WorkerMetrics, max_form_fields: int) -> None:
        self._normalizer = normalizer
        self._max_form_fields = max_form_fields  # the edge's limit: what it accepted parses
        self._dedup = dedup
        self._channel_topics = channel_topics
        self._fanout = fanout
        self._outputs = EventOutputs(normalizer, channel_topics, fanout)
        self._dlq = dlq_topic
        self._metrics = metrics

    async def submit(self, fetched: Fetched, writer: Writer) -> asyncio.Future[None]:
        """Transform a batch of raw records (aiokafka's, partition by partition) and queue
        their writes on `writer`; the future returned settles them: once it is done, every
        record is written (or dead-lettered) or was a duplicate, and the dedup marks are
        written.

        The dedup index remembers the batch's keys at once, so a duplicate in a later batch
        is known while this one's writes are still in flight."""
        events = [record for _, records in fetched for record in records]
        picked_up = time.time()
        now_ms = int(picked_up * 1000)
        outputs: list[Output] = []
        owners: list[int] = []  # for each output, the index of its event in `events`
        marks: dict[int, tuple[int, str]] = {}
        done: dict[int, tuple[str, int | None]] = {}  # (channel, edge receive ns) by event
        counts = BatchCounts()
        queue_hop = self._metrics.queue_hop
        for index, message in enumerate(events):
            if message.timestamp:  # ms
                queue_hop.observe(max(0.0, picked_up - message.timestamp / 1000))
            headers = as_dict(message.headers)
            try:
                channel, normalized = self._process(message, headers, now_ms)
            except Exception as exc:  # noqa: BLE001 - nothing may escape an agent
                reason = reason_of(exc)
                if reason is Reason.PROCESSING_ERROR:
                    log.exception("ingest failed", extra={"offset": message.offset})
                channel = channel_of(exc) or UNKNOWN_CHANNEL
                counts.events[channel, DEAD_LETTERED] += 1
                counts.dead_letters[reason] += 1
                outputs.append(self._dead_letter(message, headers, exc, reason))
                owners.append(index)
                continue
            if normalized is None:
                counts.events[channel, DUPLICATE] += 1
                continue
            counts.events[channel, NORMALIZED] += 1
            for field in normalized.record["missingFields"]:
                counts.missing[channel, field] += 1
            for fanned in normalized.outputs[1:]:
                counts.fanout[self._fanout.route_of_topic[fanned.topic]] += 1
            outputs.extend(normalized.outputs)
            owners.extend([index] * len(normalized.outputs))
            marks[index] = normalized.mark
            # a replay's first arrival may be hours old: it is not the pipeline's latency
            done[index] = (channel, None if REPLAYED_FROM in headers else received_ns(headers))
        sent = await writer.send(outputs)
        return asyncio.ensure_future(self._settle(
            writer, sent, events, outputs, owners, marks, done, counts, picked_up, now_ms))

    async def _settle(self, writer: Writer, sent: Sent, events: list[Any],
                      outputs: list[Output], owners: list[int],
                      marks: dict[int, tuple[int, str]],
                      done: dict[int, tuple[str, int | None]], counts: BatchCounts,
                      picked_up: float, now_ms: int) -> None:
        if refused := await writer.settle(sent):
            owner = {id(o): i for o, i in zip(outputs, owners, strict=True)}
            await self._dead_letter_refused(
                writer, events, [(owner[id(r.output)], r) for r in refused], marks, done,
                counts)
        await self._dedup.mark(list(marks.values()), now_ms, writer)
        self._observe(events, list(done.values()), counts, picked_up)

    async def _dead_letter_refused(self, writer: Writer, events: Sequence[Any],
                                   refused: list[tuple[int, Refused]],
                                   marks: dict[int, tuple[int, str]],
                                   done: dict[int, tuple[str, int | None]],
                                   counts: BatchCounts) -> None:
        """Dead-letter the events whose outputs the broker refused for good (an output that
        is itself a dead letter goes again without its body). Such an event is not marked
        as seen, so it passes the dedup index when replayed after the limit is raised."""
        letters: list[Output] = []
        for index, r in dict(reversed(refused)).items():  # the first refusal per event
            if r.output.topic == self._dlq:
                letters.append(_without_body(r.output, r.error))
                continue
            message = events[index]
            reason = refused_reason(r.error)
            letters.append(self._dead_letter(message, as_dict(message.headers), r.error,
                                             reason, stage=DELIVER_STAGE))
            channel, _ = done.pop(index)
            if (mark := marks.pop(index, None)) is not None:
                self._dedup.forget(mark[1])
            counts.events[channel, NORMALIZED] -= 1
            counts.events[channel, DEAD_LETTERED] += 1
            counts.dead_letters[reason] += 1
        for _ in range(2):  # as they are, then without their bodies
            again = await writer.deliver(letters)
            if not again:
                return
            letters = [_without_body(r.output, r.error) for r in again]
        await writer.stop_worker(  # nothing left to drop: an operator must look
            again[0].error, f"the dead-letter topic {self._dlq} refuses even a bodiless record")

    def _observe(self, events: Sequence[Any], done: list[tuple[str, int | None]],
                 counts: BatchCounts, picked_up: float) -> None:
        finished_ns = time.time_ns()
        finished = finished_ns / 1e9
        metrics = self._metrics
        metrics.count_batch(counts)
        worker_seconds = max(0.0, finished - picked_up)
        for _ in events:
            metrics.worker_hop.observe(worker_seconds)
        for channel, ns in done:
            if ns is not None:
                metrics.end_to_end(channel, max(0.0, (finished_ns - ns) / 1e9))

    def _process(self, message: Any, headers: dict[str, bytes],
                 now_ms: int) -> tuple[str, Normalized | None]:
        """The event's channel and its outputs and mark; None for a duplicate."""
        payload = decode_raw(message.value, headers, self._max_form_fields,
                             self._normalizer.form_names)
        keys = self._normalizer.keys(payload)
        dedup_key = self._dedup.key(message.partition, keys.idempotency_key)
        if self._dedup.seen(dedup_key, now_ms):
            spec = self._normalizer.detect(payload)
            return (spec.channel if spec is not None else UNKNOWN_CHANNEL), None
        record, outputs = self._outputs.build(payload, headers, keys)
        self._dedup.remember(dedup_key, now_ms)
        return record["channel"], Normalized(record, outputs, (message.partition, dedup_key))

    def _dead_letter(self, message: Any, headers: dict[str, bytes], exc: BaseException,
                     reason: Reason, stage: str = STAGE) -> Output:
        dlq_headers = dead_letter_headers(
            reason=reason, stage=stage, error=exc, source_topic=message.topic,
            source_partition=message.partition, source_offset=message.offset,
            source_headers=headers,
        )
        return Output(self._dlq, message.key, message.value or b"", dlq_headers)



def _without_body(letter: Output, error: BaseException) -> Output:
    """A dead letter the topic refused, without the original bytes: its headers still say
    why and where the original is (source topic, partition and offset)."""
    omitted = (DLQ_BODY_OMITTED, type(error).__name__.encode())
    return Output(letter.topic, letter.key, b"", [*(letter.headers or []), omitted])
