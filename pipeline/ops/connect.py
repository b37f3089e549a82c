"""Clients for the operator commands: bounded connection, one-line errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from cxone_router.kafka.capabilities import with_capabilities
from cxone_router.kafka.clients import Connection, record_limit
from cxone_router.kafka.diagnose import start_client
from cxone_router.settings import Settings


def quiet_kafka_logs() -> None:
    """aiokafka logs every failed connection attempt; the error says it once, in one line."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@asynccontextmanager
async def consuming(settings: Settings, kafka: Connection) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer without a group: it commits nothing and moves no worker's offsets."""
    consumer = kafka.consumer(
        group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", request_timeout_ms=10_000,
        fetch_max_wait_ms=settings.fetch_wait_ms,
        max_partition_fetch_bytes=record_limit(settings),
    )
    await start_client(consumer, kafka)
    try:
        yield consumer
    finally:
        await consumer.stop()


async def open_admin(kafka: Connection) -> AIOKafkaAdminClient:
    admin = kafka.admin(request_timeout_ms=10_000)
    await start_client(admin, kafka)
    return admin


@asynccontextmanager
async def producing(settings: Settings, kafka: Connection) -> AsyncIterator[AIOKafkaProducer]:
    """The pipeline's producer settings: acks=all, idempotent where the brokers can serve
    it (asked of them, unless CXR_KAFKA_IDEMPOTENCE says)."""
    producer = kafka.pipeline_producer(await with_capabilities(settings, kafka))
    await start_client(producer, kafka)
    try:
        yield producer
    finally:
        await producer.stop()
