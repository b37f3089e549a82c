"""The dedup index: a Faust table of idempotency keys, remembered for a TTL, then purged.

Keys carry the source partition (`"3/<key>"`), so a key's changelog record, its tombstone
and the worker that recovers it all agree on one partition, also when purging from a timer.
Duplicates of one event share its interaction id, so they land on the same partition.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline import metrics

PURGE_CHUNK = 5_000


class DedupIndex:
    def __init__(self, table: Any, ttl_seconds: float) -> None:
        self._table = table
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

    def mark(self, partition: int, key: str, now_ms: int) -> None:
        """Remember a key; call only after the event's outputs were acknowledged."""
        self._table.send_changelog(partition, key, now_ms)
        self._store[key] = now_ms

    def __len__(self) -> int:
        return len(self._store)

    async def purge(self, now_ms: int) -> int:
        """Forget expired keys (tombstones go to the changelog); yields to the loop often."""
        store = self._store
        expired = [k for k, seen_at in list(store.items()) if now_ms - seen_at >= self._ttl_ms]
        for start in range(0, len(expired), PURGE_CHUNK):
            for key in expired[start:start + PURGE_CHUNK]:
                partition = int(key.split("/", 1)[0])
                self._table.send_changelog(partition, key, None, value_serializer="raw")
                store.pop(key, None)
            await asyncio.sleep(0)
        metrics.DEDUP_KEYS.set(len(store))
        return len(expired)
