"""The dedup index: a Faust table of idempotency keys, remembered for a TTL, then purged.

Keys carry the source partition (`"3/<key>"`), so a key's changelog record, its tombstone
and the worker that recovers it all agree on one partition, also when purging from a timer.
Duplicates of one event share its interaction id, so they land on the same partition.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from cxone_router.agents.delivery import Output, Writer
from cxone_router.agents.metrics import WorkerMetrics

PURGE_CHUNK = 5_000


class DedupIndex:
    def __init__(self, table: Any, ttl_seconds: float, metrics: WorkerMetrics) -> None:
        self._table = table
        self._metrics = metrics
        self._ttl_ms = int(ttl_seconds * 1000)

    @property
    def _store(self) -> Any:
        return self._table.data

    @staticmethod
    def key(partition: int, idempotency_key: str) -> str:
        return f"{partition}/{idempotency_key}"

    def seen(self, key: str, now_ms: int) -> bool:
        seen_at = self._store.get(key)
        return seen_at is not None and now_ms - seen_at < self._ttl_ms

    def remember(self, key: str, now_ms: int) -> None:
        """Know `key` as seen from now on, in this process (its event's writes are queued)."""
        self._store[key] = now_ms

    def forget(self, key: str) -> None:
        """Its event was not written after all (dead-lettered): a replay must pass."""
        self._store.pop(key, None)

    async def mark(self, marks: list[tuple[int, str]], now_ms: int, writer: Writer) -> None:
        """Write the keys to the table's changelog; call only after the events' outputs
        were acknowledged. Returns once the changelog has them, so a worker that stops
        right after, or the next owner of the partitions, still recognises these events as
        duplicates when they are read again."""
        topic = self._table.changelog_topic.get_topic_name()  # JSON, as the table reads it
        await writer.deliver([
            Output(topic, orjson.dumps(key), orjson.dumps(now_ms), None, partition)
            for partition, key in marks
        ])

    def __len__(self) -> int:
        return len(self._store)

    async def purge(self, now_ms: int) -> int:
        """Forget expired keys (tombstones go to the changelog), a chunk at a time with the
        loop free in between: one pass over a million keys held the loop for ~140 ms; now
        the longest step is the key snapshot, ~13 ms."""
        store = self._store
        keys = list(store.keys())
        purged = 0
        for start in range(0, len(keys), PURGE_CHUNK):
            for key in keys[start:start + PURGE_CHUNK]:
                seen_at = store.get(key)
                if seen_at is not None and now_ms - seen_at >= self._ttl_ms:
                    partition = int(key.split("/", 1)[0])
                    self._table.send_changelog(partition, key, None, value_serializer="raw")
                    store.pop(key, None)
                    purged += 1
            await asyncio.sleep(0)
        self._metrics.dedup_keys.set(len(store))
        self._metrics.dedup_purged.inc(purged)
        return purged
