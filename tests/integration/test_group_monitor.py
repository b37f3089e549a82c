"""Consumer lag as the worker measures it, on both brokers (embedded and Apache Kafka).

Invariants: the age is that of the oldest record not yet committed (its own timestamp),
0 once the group caught up; lag in records is right even where the embedded broker
under-reports a partition's end offset (records written as one batch); the age keeps
growing between checks.
"""

from __future__ import annotations

import time
import uuid

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from cxone_router.agents.group_monitor import GroupMonitor
from cxone_router.kafka.clients import Connection
from cxone_router.kafka.topics import ensure_topics
from tests.integration.harness import Broker

pytestmark = pytest.mark.integration


async def _commit(kafka: Connection, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = kafka.consumer(group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


async def test_lag_is_the_age_of_the_oldest_uncommitted_record(broker: Broker) -> None:
    topic, group = f"lag-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    kafka = Connection(broker.bootstrap)
    await ensure_topics(kafka, [topic], 2, 1)
    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    now_ms = int(time.time() * 1000)
    producer = kafka.producer(acks="all", linger_ms=50)
    await producer.start()
    try:  # ten records one second apart, from two minutes ago, in one batch
        sends = [await producer.send(topic, b"v", partition=0,
                                     timestamp_ms=now_ms - 120_000 + i * 1000)
                 for i in range(10)]
        sends += [await producer.send(topic, b"v", partition=1, timestamp_ms=now_ms - 10_000)
                  for _ in range(3)]
        for future in sends:
            await future
    finally:
        await producer.stop()
    await _commit(kafka, group, {p0: 4, p1: 3})

    monitor = GroupMonitor(kafka, group, [topic])
    await monitor.start()
    try:
        await monitor.check()
        now = time.time()
        lag = monitor.lag
        assert (lag[p0].records(), lag[p1].records()) == (6, 0)
        assert lag[p0].seconds(now) == pytest.approx(now - (now_ms - 120_000 + 4000) / 1000,
                                                     abs=0.01)
        assert lag[p1].seconds(now) == 0
        assert lag[p0].seconds(now + 5) == pytest.approx(lag[p0].seconds(now) + 5)
        assert monitor.members == 0  # nobody has joined this group

        await _commit(kafka, group, {p0: 10})
        await monitor.check()
        assert [(x.records(), x.seconds(time.time())) for x in monitor.lag.values()] == [
            (0, 0), (0, 0)]
    finally:
        await monitor.stop()
