"""What a drill counts, read from the topics themselves from offset 0.

- lost: accepted (202) but on no channel topic;
- duplicates: extra copies of an event on the channel topics;
- end to end: a channel record's timestamp minus the `receivedAt` the edge stamped;
- longest gap: the longest time with no new event on any channel topic, after warm-up;
- recovery: from the fault until end-to-end latency stayed under `RECOVERED_BELOW`;
- fan-out duplicates: extra copies of an event on any one fan-out topic;
- aborted: records on the channel and fan-out topics that only a `read_uncommitted` reader
  sees (the writes of aborted transactions): proof that a fault hit a transaction.

Everything else is read `read_committed`, as downstream consumers are told to.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson

from cxone_router.drills.traffic import TrafficLog
from cxone_router.kafka.clients import Connection
from cxone_router.kafka.reader import TopicReader
from cxone_router.quantiles import quantile

RECOVERED_BELOW = 1.0  # seconds end to end


@dataclass
class Figures:
    drill: str
    accepted: int
    lost: int
    duplicates: int
    dead_lettered: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    longest_gap_s: float
    recovery_s: float
    longest_without_202_s: float
    retries: int
    unfinished: int
    statuses: dict[str, int]
    supervisor_restarts: int = 0
    checks: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Output:
    event_id: str
    written: float  # the channel record's timestamp (s)
    latency: float  # written - receivedAt (s)


@dataclass
class FanoutCopies:
    duplicates: int  # extra copies of an event on one fan-out topic, all topics summed
    records: int  # read_committed
    aborted: int  # on channel and fan-out topics, seen only read_uncommitted


async def fanout_copies(kafka: Connection, channel_topics: list[str],
                        fanout_topics: list[str], channel_records: int) -> FanoutCopies:
    """Read after `read_outputs`, once everything is on the topics."""
    async with TopicReader(kafka, fanout_topics) as reader:
        await reader.read_to_end(timeout=60)
        copies = Counter((r.topic, orjson.loads(r.value)["eventId"]) for r in reader.records)
    async with TopicReader(kafka, [*channel_topics, *fanout_topics],
                           isolation_level="read_uncommitted") as everything:
        await everything.read_to_end(timeout=60)
        uncommitted = len(everything.records)
    committed = channel_records + sum(copies.values())
    return FanoutCopies(sum(n - 1 for n in copies.values()), sum(copies.values()),
                        uncommitted - committed)


async def read_outputs(kafka: Connection, channel_topics: list[str], dlq: str,
                       expected: set[str], timeout: float) -> tuple[list[Output], int]:
    """Every event on the channel topics (copies included) and the dead-letter count,
    read until every expected event was seen (or `timeout`), then to the end offsets."""
    async with TopicReader(kafka, [*channel_topics, dlq]) as reader:
        seen: set[str] = set()
        decoded = 0

        def all_seen(records: list[Any]) -> bool:
            nonlocal decoded
            for record in records[decoded:]:
                if record.topic != dlq:
                    seen.add(orjson.loads(record.value)["eventId"])
            decoded = len(records)
            return expected <= seen

        await reader.read_until(all_seen, timeout)
        await reader.read_to_end(timeout=30)
        outputs = []
        for record in reader.records:
            if record.topic == dlq:
                continue
            value = orjson.loads(record.value)
            received = datetime.fromisoformat(value["receivedAt"]).timestamp()
            written = record.timestamp / 1000
            outputs.append(Output(value["eventId"], written, written - received))
        return outputs, len(reader.on(dlq))


async def raw_bodies(kafka: Connection, raw: str) -> set[bytes]:
    async with TopicReader(kafka, [raw]) as reader:
        await reader.read_to_end(timeout=60)
        return {r.value for r in reader.records}


def figures(drill: str, log: TrafficLog, outputs: list[Output], dead_lettered: int,
            window: tuple[float, float], fault_at: float) -> Figures:
    """`window`: (a while before the fault, end of sending), Unix times."""
    accepted = {a.event_id for a in log.accepted}
    copies = Counter(o.event_id for o in outputs)
    first: dict[str, Output] = {}
    for output in sorted(outputs, key=lambda o: o.written):
        first.setdefault(output.event_id, output)
    start, end = window
    # latency of the events received in the window: the pipeline warmed up, the fault in it
    latencies = sorted(o.latency for o in first.values() if o.written - o.latency >= start)
    late = [o.written for o in first.values() if o.latency > RECOVERED_BELOW
            and o.written >= fault_at]
    return Figures(
        drill=drill,
        accepted=len(accepted),
        lost=len(accepted - set(copies)),
        duplicates=sum(n - 1 for n in copies.values()),
        dead_lettered=dead_lettered,
        p50_ms=_ms(statistics.median(latencies)) if latencies else 0.0,
        p99_ms=_ms(quantile(latencies, 0.99)),
        max_ms=_ms(latencies[-1]) if latencies else 0.0,
        longest_gap_s=round(longest_gap([o.written for o in first.values()], start, end), 2),
        recovery_s=round(max(late) - fault_at, 1) if late else 0.0,
        longest_without_202_s=round(longest_gap([a.at for a in log.accepted], start, end), 2),
        retries=log.retries,
        unfinished=log.unfinished,
        statuses=dict(sorted(log.statuses.items())),
    )


def longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] without one of `times` in it."""
    edges = [start, *sorted(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in zip(edges, edges[1:], strict=False))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
