"""What a candidate wrote, reduced to compare: per output (topic without the candidate's
prefix, key), the number of records, the partition they went to and a digest of their
values and headers in the order they were written (offset order: one key, one partition).
Two candidates wrote byte-identical records, in the same per-key order, when their
summaries are equal."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from cxone_router.kafka.clients import Connection

LOG_APPEND_TIME = 1  # a record's timestamp_type when its topic stamps append times
OutputKey = tuple[str, bytes | None]  # (topic without the prefix, record key)


class _Stream:
    __slots__ = ("count", "digest", "partitions")

    def __init__(self) -> None:
        self.count = 0
        self.digest = hashlib.blake2b(digest_size=16)
        self.partitions: set[int] = set()


def _feed(digest: Any, value: bytes | None, headers: Iterable[tuple[str, bytes]]) -> None:
    """Length-prefixed, so that no two different records feed the same bytes."""
    value = b"" if value is None else value
    parts = [len(value).to_bytes(4, "big"), value]
    for name, data in headers:
        encoded = name.encode()
        parts += [b"\x01", len(encoded).to_bytes(4, "big"), encoded,
                  len(data).to_bytes(4, "big"), data]
    parts.append(b"\x00")
    digest.update(b"".join(parts))


@dataclass
class Summary:
    """Per (topic without prefix, key): (records, partitions, digest)."""

    streams: dict[OutputKey, tuple[int, tuple[int, ...], str]] = field(default_factory=dict)
    by_topic: dict[str, int] = field(default_factory=dict)
    records: int = 0
    first_ms: int = 0  # broker timestamps of the first and the last record
    last_ms: int = 0

    def differences(self, other: Summary) -> int:
        """How many (topic, key) streams differ (missing on either side included)."""
        return sum(1 for k in self.streams.keys() | other.streams.keys()
                   if self.streams.get(k) != other.streams.get(k))


class Collector:
    """Builds a `Summary` from records fed in per-key order."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._streams: dict[OutputKey, _Stream] = {}
        self._by_topic: dict[str, int] = {}
        self._first: int | None = None
        self._last: int | None = None

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
            headers: Iterable[tuple[str, bytes]], timestamp: int = 0) -> None:
        if not topic.startswith(self._prefix):
            raise ValueError(f"{topic} is not a topic of prefix {self._prefix}")
        stripped = topic[len(self._prefix):]
        stream = self._streams.get((stripped, key))
        if stream is None:
            stream = self._streams[stripped, key] = _Stream()
        stream.count += 1
        stream.partitions.add(partition)
        _feed(stream.digest, value, headers)
        self._by_topic[stripped] = self._by_topic.get(stripped, 0) + 1
        if timestamp:
            self._first = timestamp if self._first is None else min(self._first, timestamp)
            self._last = timestamp if self._last is None else max(self._last, timestamp)

    def summary(self) -> Summary:
        return Summary(
            {k: (s.count, tuple(sorted(s.partitions)), s.digest.hexdigest())
             for k, s in self._streams.items()},
            dict(sorted(self._by_topic.items())),
            sum(self._by_topic.values()), self._first or 0, self._last or 0)


async def read_outputs(kafka: Connection, prefix: str, topics: list[str], partitions: int,
                       timeout: float) -> Summary:
    """Every record on `topics` up to their end offsets now, summarised as it is read
    (nothing is kept but the summary)."""
    import asyncio
    import time

    collector = Collector(prefix)
    consumer = kafka.consumer(group_id=None, enable_auto_commit=False,
                              auto_offset_reset="earliest", max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        assigned = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = {tp: end for tp, end in (await consumer.end_offsets(assigned)).items() if end}
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise TimeoutError(f"did not read {prefix}'s outputs within {timeout:.0f} s")
            batch = await consumer.getmany(*ends, timeout_ms=500, max_records=20_000)
            for records in batch.values():
                for r in records:
                    if r.timestamp_type != LOG_APPEND_TIME:  # events/s needs the broker's time
                        raise RuntimeError(f"{r.topic}: record timestamps are not the broker's "
                                           f"append time (message.timestamp.type)")
                    collector.add(r.topic, r.partition, r.key, r.value, r.headers, r.timestamp)
            for tp in list(ends):  # the position, not the last record: a transaction's
                if await consumer.position(tp) >= ends[tp]:  # marker takes an offset too
                    ends.pop(tp)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return collector.summary()
