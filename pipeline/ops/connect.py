"""Clients for the operator commands: bounded connection, one-line errors."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.kafka.capabilities import with_capabilities
from pipeline.kafka.clients import Connection, record_limit
from pipeline.kafka.diagnose import start_client
from pipeline.settings import Settings


def quiet_kafka_logs() -> None:
    """aiokafka logs every failed connection attempt; the error says it once, in one line."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


async def open_consumer(settings: Settings, kafka: Connection) -> AIOKafkaConsumer:
    """A consumer without a group: it commits nothing and moves no worker's offsets."""
    consumer = kafka.consumer(
        group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", request_timeout_ms=10_000,
        fetch_max_wait_ms=settings.fetch_wait_ms,
        max_partition_fetch_bytes=record_limit(settings),
    )
    await start_client(consumer, kafka)
    return consumer


async def open_admin(kafka: Connection) -> AIOKafkaAdminClient:
    admin = kafka.admin(request_timeout_ms=10_000)
    await start_client(admin, kafka)
    return admin


async def open_producer(settings: Settings, kafka: Connection) -> AIOKafkaProducer:
    """The pipeline's producer settings: acks=all, idempotent where the brokers can serve
    it (asked of them, unless CXR_KAFKA_IDEMPOTENCE says)."""
    producer = kafka.pipeline_producer(await with_capabilities(settings, kafka))
    await start_client(producer, kafka)
    return producer
