"""Clients for the operator commands: bounded connection, one-line errors."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from pipeline.kafka.clients import producer_config, record_limit
from pipeline.kafka.topics import CONNECT_TIMEOUT_SECONDS, BrokerUnreachableError
from pipeline.settings import Settings


def quiet_kafka_logs() -> None:
    """aiokafka logs every failed connection attempt; the error says it once, in one line."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def _unreachable(bootstrap: str, exc: BaseException) -> BrokerUnreachableError:
    why = (f"no answer within {CONNECT_TIMEOUT_SECONDS:g} s"
           if isinstance(exc, TimeoutError) else "no broker answered")
    return BrokerUnreachableError(
        f"cannot reach Kafka at {bootstrap}: {why}; is the address right and the broker up?")


async def _start(client: Any, bootstrap: str) -> None:
    try:
        await asyncio.wait_for(client.start(), CONNECT_TIMEOUT_SECONDS)
    except (KafkaError, OSError, TimeoutError) as exc:
        await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
        raise _unreachable(bootstrap, exc) from None


async def open_consumer(settings: Settings, bootstrap: str) -> AIOKafkaConsumer:
    """A consumer without a group: it commits nothing and moves no worker's offsets."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", request_timeout_ms=10_000,
        fetch_max_wait_ms=settings.fetch_wait_ms,
        max_partition_fetch_bytes=record_limit(settings),
    )
    await _start(consumer, bootstrap)
    return consumer


async def open_admin(bootstrap: str) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await _start(admin, bootstrap)
    return admin


async def open_producer(settings: Settings, bootstrap: str) -> AIOKafkaProducer:
    """The pipeline's producer settings: acks=all, idempotence on a real cluster."""
    producer = AIOKafkaProducer(**producer_config(settings, bootstrap))
    await _start(producer, bootstrap)
    return producer
