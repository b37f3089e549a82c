"""Read topics from the beginning, without a consumer group: for the demo, tests and bench."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from cxone_router.kafka.clients import Connection


class TopicReader:
    """Reads every partition of some topics from offset 0, accumulating records."""

    def __init__(self, kafka: Connection, topics: Sequence[str],
                 isolation_level: str = "read_committed") -> None:
        """`read_uncommitted` also returns the writes of aborted transactions."""
        self._kafka = kafka
        self._topics = list(topics)
        self._isolation_level = isolation_level
        self._consumer: AIOKafkaConsumer | None = None
        self.records: list[Any] = []

    async def __aenter__(self) -> TopicReader:
        consumer = self._kafka.consumer(group_id=None, enable_auto_commit=False,
                                        auto_offset_reset="earliest",
                                        isolation_level=self._isolation_level)
        await consumer.start()
        partitions = []
        for topic in self._topics:
            for p in consumer.partitions_for_topic(topic) or await self._wait_partitions(
                consumer, topic
            ):
                partitions.append(TopicPartition(topic, p))
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._consumer = consumer
        return self

    @staticmethod
    async def _wait_partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
        for _ in range(50):
            await consumer._client.force_metadata_update()
            found = consumer.partitions_for_topic(topic)
            if found:
                return set(found)
            await asyncio.sleep(0.1)
        raise LookupError(f"topic {topic} not found")

    async def __aexit__(self, *exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def read_until(self, done: Callable[[list[Any]], bool], timeout: float) -> list[Any]:
        """Poll until `done(records)` holds or `timeout` passes; return all records so far."""
        assert self._consumer is not None
        deadline = time.monotonic() + timeout
        while not done(self.records) and time.monotonic() < deadline:
            batch = await self._consumer.getmany(timeout_ms=100, max_records=10_000)
            for records in batch.values():
                self.records.extend(records)
        return self.records

    async def read_to_end(self, timeout: float) -> list[Any]:
        """Read up to the end offsets as they are now; return all records so far."""
        assert self._consumer is not None
        consumer = self._consumer
        ends = await consumer.end_offsets(list(consumer.assignment()))

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                return self.records
            batch = await consumer.getmany(timeout_ms=100, max_records=10_000)
            for records in batch.values():
                self.records.extend(records)
        raise TimeoutError(f"did not reach the end offsets within {timeout} s")

    def on(self, topic: str) -> list[Any]:
        return [r for r in self.records if r.topic == topic]
