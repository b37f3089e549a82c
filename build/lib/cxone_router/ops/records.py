"""A topic's records, read without a consumer group: from a start (the beginning, the end,
an offset or a time), filtered by partition and key, up to the end offsets as they were
when reading began, or for ever (`follow`)."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition

from cxone_router.errors import CxoneRouterError
from cxone_router.kafka.diagnose import refuse_unauthorized
from cxone_router.ops.times import FORMS, TimeFormatError, iso, parse_time, to_ms

StartKind = Literal["beginning", "end", "offset", "time"]
_OFFSET = re.compile(r"[+-]?\d+")
# Reading to the end gives up when no partition moves for this long (a broker that stalls).
STALL_SECONDS = 60.0


class StartFormatError(ValueError):
    pass


class ReadError(CxoneRouterError):
    """A partition that does not exist, or a broker that stopped answering mid-read."""


@dataclass(frozen=True)
class Start:
    """Where each partition is read from. `offset`: that offset (negative: that many
    records before the end); `time`: the first record at or after it (ms since epoch)."""

    kind: StartKind = "beginning"
    value: int = 0


def parse_start(text: str, now: datetime | None = None) -> Start:
    """`beginning`, `end`, an offset (`42`; `-10` = the last 10 of each partition), or a
    time (ISO-8601, or an age such as `10m`)."""
    text = text.strip()
    lowered = text.lower()
    if lowered in ("beginning", "earliest", "start"):
        return Start("beginning")
    if lowered in ("end", "latest"):
        return Start("end")
    if _OFFSET.fullmatch(text):
        return Start("offset", int(text))
    try:
        return Start("time", to_ms(parse_time(text, now)))
    except TimeFormatError:
        raise StartFormatError(
            f"{text!r}: use beginning, end, an offset (42; -10 = the last 10 of each "
            f"partition) or {FORMS}") from None


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int  # -1 when the broker has none
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, r: Any) -> Record:
        """From an aiokafka ConsumerRecord."""
        return cls(r.topic, r.partition, r.offset, r.timestamp if r.timestamp is not None
                   else -1, r.key, r.value, tuple(r.headers or ()))

    def header(self, name: str) -> str | None:
        """The last value of header `name`, decoded as UTF-8 (with replacement)."""
        found = None
        for k, v in self.headers:
            if k == name:
                found = v
        return None if found is None else found.decode("utf-8", "replace")

    @property
    def timestamp(self) -> str | None:
        return iso(self.timestamp_ms)

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True)
class Query:
    start: Start = Start()
    partitions: tuple[int, ...] | None = None  # None = every partition
    key: bytes | None = None
    limit: int | None = None
    follow: bool = False

    def keeps(self, record: Record) -> bool:
        if self.key is not None and record.key != self.key:
            return False
        return not (self.start.kind == "time" and 0 <= record.timestamp_ms < self.start.value)


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[int] | None:
    """The topic's partitions (None when the brokers do not have the topic; an error
    naming the ACL when they do not let us see it)."""
    cluster = await consumer._client.fetch_all_metadata()
    if found := cluster.partitions_for_topic(topic):
        return sorted(found)
    await refuse_unauthorized(consumer._client, [topic], "READ", "operator")
    return None


@dataclass(frozen=True, slots=True)
class Bounds:
    """Where a partition is read from and to. `end` is the end offset when reading began,
    or, `exact`, the time index's answer for the end of a time range: the first record at
    or after it. A broker may report end offsets low (the embedded one): the batch at the
    end comes whole, and with a time range the reading goes on past `end` while records
    are before the range's end."""

    start: int
    end: int
    exact: bool = False


def _found(answer: Any, at_ms: int, begin: int, end: int) -> int | None:
    """The offset a broker's time index gave, when it is a real answer: a record at or
    after the time, inside the partition (the embedded broker answers offset 0, -1)."""
    if answer is None or answer.timestamp < at_ms or not begin <= answer.offset < end:
        return None
    return int(answer.offset)


async def bounds(consumer: AIOKafkaConsumer, tps: list[TopicPartition], start: Start,
                 until_ms: int | None = None) -> dict[TopicPartition, Bounds]:
    """Each partition's bounds from `start` to the end, or to `until_ms` (excluded; the
    broker's time index says where, when it has one)."""
    begins = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    starts = await _start_offsets(consumer, tps, start, begins, ends)
    if until_ms is None:
        return {tp: Bounds(starts[tp], ends[tp]) for tp in tps}
    answers = await consumer.offsets_for_times({tp: until_ms for tp in tps})
    where = {}
    for tp in tps:
        stop = _found(answers.get(tp), until_ms, begins[tp], ends[tp])
        where[tp] = Bounds(starts[tp], ends[tp]) if stop is None else \
            Bounds(starts[tp], stop, exact=True)
    return where


async def _start_offsets(consumer: AIOKafkaConsumer, tps: list[TopicPartition], start: Start,
                         begins: dict[TopicPartition, int], ends: dict[TopicPartition, int],
                         ) -> dict[TopicPartition, int]:
    if start.kind == "beginning":
        return dict(begins)
    if start.kind == "end":
        return dict(ends)
    if start.kind == "offset":
        wanted = {tp: (ends[tp] + start.value if start.value < 0 else start.value)
                  for tp in tps}
        return {tp: min(max(wanted[tp], begins[tp]), ends[tp]) for tp in tps}
    # A time: the broker's index when it has one. Records before it are skipped as well
    # (`Query.keeps`): a broker without a time index (the embedded one) answers offset 0.
    # None from a broker with an index: nothing at or after the time.
    answers = await consumer.offsets_for_times({tp: start.value for tp in tps})
    starts = {}
    for tp in tps:
        offset = _found(answers.get(tp), start.value, begins[tp], ends[tp])
        if offset is None:
            offset = ends[tp] if answers.get(tp) is None else begins[tp]
        starts[tp] = offset
    return starts


async def read(consumer: AIOKafkaConsumer, topic: str, query: Query,
               poll_ms: int = 200) -> AsyncIterator[Record]:
    """The topic's records for `query`, in order within each partition. Without `follow`
    it stops at the end offsets read when it began (every record of the last batch there
    comes along); with it, it waits for more until cancelled. The topic must exist
    (`partitions_of`)."""
    partitions = await partitions_of(consumer, topic) or []
    if query.partitions is not None:
        missing = sorted(set(query.partitions) - set(partitions))
        if missing:
            raise ReadError(f"{topic} has no partition {', '.join(map(str, missing))} "
                            f"(it has 0-{len(partitions) - 1})")
        partitions = sorted(set(query.partitions))
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(tps)
    where = await bounds(consumer, tps, query.start)
    # `-N`: the last N of each partition up to the end, kept as they come: a broker that
    # reports an end offset low (the embedded one) then still gives exactly N
    last = -query.start.value if query.start.kind == "offset" and query.start.value < 0 \
        else None
    tails: dict[int, deque[Record]] = {tp.partition: deque(maxlen=last) for tp in tps}
    emitted = 0
    async with aclosing(scan(consumer, topic, where, follow=query.follow,
                             poll_ms=poll_ms)) as records:
        async for record, caught_up in records:
            if record is not None and last is not None and not caught_up:
                tails[record.partition].append(record)  # the filters apply to the last N
                continue
            ready = [] if record is None else [record]
            if last is not None and caught_up:
                ready = [r for p in sorted(tails) for r in tails[p]] + ready
                tails = {}
                last = None
            for r in ready:
                if not query.keeps(r):
                    continue
                yield r
                emitted += 1
                if query.limit is not None and emitted >= query.limit:
                    return


async def scan(consumer: AIOKafkaConsumer, topic: str, where: dict[TopicPartition, Bounds],
               *, until_ms: int | None = None, follow: bool = False, poll_ms: int = 200,
               ) -> AsyncGenerator[tuple[Record | None, bool], None]:
    """The records within `where` (assigned partitions), as (record, whether every
    partition has reached its end); (None, True) once when they all have. With `until_ms`
    (the end of a time range) a partition read past its end offset is done at its first
    record from that time on, or when a fetch brings nothing more. `follow`: on for ever.
    Raises ReadError when no partition short of its end moves for STALL_SECONDS."""
    for tp, bound in where.items():
        consumer.seek(tp, bound.start)
    tps = list(where)
    pending = {tp for tp, b in where.items()
               if b.start < b.end or (until_ms is not None and not b.exact)}
    moved = time.monotonic()
    if not pending:
        yield None, True
    while follow or pending:
        batch = await consumer.getmany(*(tps if follow else pending), timeout_ms=poll_ms,
                                       max_records=1000)
        for part in sorted(batch, key=_partition):
            end, exact = where[part].end, where[part].exact
            for raw in batch[part]:
                if raw.offset >= end and (exact or until_ms is not None
                                          and raw.timestamp >= until_ms):
                    pending.discard(part)  # past the range: this partition is done
                    break
                yield Record.of(raw), not pending
        if batch:
            moved = time.monotonic()
        was_pending = bool(pending)
        for tp in list(pending):
            # read to the end offset: done, but for a time range's inexact end, which
            # waits for a fetch that brings nothing more
            if await consumer.position(tp) >= where[tp].end and (
                    not batch or until_ms is None or where[tp].exact):
                pending.discard(tp)
        if was_pending and not pending:
            yield None, True
        if pending and not batch and time.monotonic() - moved > STALL_SECONDS:
            behind = ", ".join(f"{tp.partition}" for tp in sorted(pending, key=_partition))
            raise ReadError(f"{topic}: partitions {behind} gave no records for "
                            f"{STALL_SECONDS:g} s before their end offsets")


def _partition(tp: TopicPartition) -> int:
    return int(tp.partition)


async def counts(consumer: AIOKafkaConsumer, topic: str, partitions: Iterable[int],
                 ) -> dict[int, tuple[int, int]]:
    """(beginning, end) offsets of each partition."""
    tps = [TopicPartition(topic, p) for p in partitions]
    begins = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    return {tp.partition: (begins[tp], ends[tp]) for tp in tps}
