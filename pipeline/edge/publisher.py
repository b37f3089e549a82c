"""The edge's Kafka producer: connects in the background, publishes with acks=all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
    UnknownError,
)

from cxone_router.errors import CxoneRouterError
from cxone_router.kafka.clients import (
    BROKEN_PRODUCER_ERRORS,
    REFUSED_RECORD_ERRORS,
    Connection,
    producer_config,
)
from cxone_router.kafka.diagnose import diagnose
from cxone_router.kafka.headers import Headers
from cxone_router.kafka.partition import partition_of
from cxone_router.kafka.topics import missing_topics
from cxone_router.retry import RetryPolicy
from cxone_router.settings import Settings

log = logging.getLogger(__name__)
CONNECT_RETRY = RetryPolicy(base=0.2, cap=5.0, max_attempts=None)  # until the broker answers


class BrokerUnavailable(CxoneRouterError):
    """The broker did not acknowledge the write in time: the sender should retry.
    `error_class` names what went wrong, for the publish-errors metric."""

    retriable = True

    def __init__(self, message: str, error_class: str) -> None:
        super().__init__(message)
        self.error_class = error_class


class RecordRefused(BrokerUnavailable):
    """The broker refused the record for what it is (e.g. over the topic's size limit):
    sent again it is refused again, so the sender must not retry it."""

    retriable = False


@dataclass(frozen=True)
class Replicas:
    """The raw topic's partitions, and how many lack in-sync replicas."""

    partitions: int
    under_replicated: int
    under_min_isr: int

    @classmethod
    def of(cls, partitions: list[dict[str, Any]], min_isr: int) -> Replicas:
        """From the brokers' metadata (`describe_topics`' partitions)."""
        isr = [len(p["isr"]) for p in partitions]
        return cls(len(partitions),
                   sum(1 for p, n in zip(partitions, isr, strict=True) if n < len(p["replicas"])),
                   sum(1 for n in isr if n < min_isr))


def _expire(task: asyncio.Task[Any], expired: list[bool]) -> None:
    expired.append(True)
    task.cancel()


class Publisher:
    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self._settings = settings
        self._kafka = Connection.of(settings, bootstrap)
        self._producer: AIOKafkaProducer | None = None
        self._connector: asyncio.Task[None] | None = None
        self._retired: set[asyncio.Task[None]] = set()  # producers being stopped

    async def start(self) -> None:
        """Start connecting; the edge serves (with 503s) until the broker answers."""
        self._connector = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        attempt = 0
        while True:
            producer = self._kafka.producer(**producer_config(self._settings),
                                            partitioner=partition_of)
            try:
                await producer.start()
            except (KafkaError, OSError) as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                log.warning("producer cannot start, retrying" + await self._hint(exc),
                            extra={"error": repr(exc)})
                await asyncio.sleep(CONNECT_RETRY.delay(attempt))
                attempt += 1
                continue
            self._producer = producer
            log.info("connected to broker", extra={
                "bootstrap": self._kafka.bootstrap,
                "security": self._kafka.security.describe()})  # never a secret
            return

    async def _hint(self, exc: BaseException) -> str:
        """What to check, when a setting or an ACL (not an outage) keeps the producer out."""
        if self._settings.idempotence and isinstance(exc, UnknownError):
            return " (the broker cannot serve an idempotent producer: set " \
                   "CXR_KAFKA_IDEMPOTENCE=false)"
        if isinstance(exc, ClusterAuthorizationFailedError | TopicAuthorizationFailedError):
            return f" ({self._acl_missing()})"
        problem = await diagnose(self._kafka)
        return f" ({problem})" if problem else ""

    def _acl_missing(self) -> str:
        return (f"ACL missing: {self._kafka.security.principal} may not WRITE the raw topic "
                f"(an idempotent producer needs it too); an admin grants it with "
                f"`cxone-router acls --role edge --principal User:NAME --apply`")

    async def stop(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await asyncio.gather(*self._retired, return_exceptions=True)

    async def publish(self, topic: str, key: bytes, value: bytes, headers: Headers) -> None:
        """Return only once the broker acknowledged the record (acks=all)."""
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable("not connected to the broker yet", "NotConnected")
        # The deadline is one timer that cancels this task: what asyncio.timeout does, at a
        # fifth of its cost (wait_for also ran the send in a task of its own).
        task = asyncio.current_task()
        assert task is not None
        expired: list[bool] = []
        timer = task.get_loop().call_later(self._settings.publish_timeout_seconds,
                                           _expire, task, expired)
        try:
            try:
                await producer.send_and_wait(topic, value=value, key=key, headers=headers)
            except asyncio.CancelledError:
                if not expired:
                    raise
                task.uncancel()  # ours, turned into a TimeoutError
                raise TimeoutError from None
            finally:
                timer.cancel()
        except (KafkaError, TimeoutError) as exc:
            if isinstance(exc, BROKEN_PRODUCER_ERRORS) and self._producer is producer:
                self._replace(producer, exc)
            if isinstance(exc, TopicAuthorizationFailedError):
                raise BrokerUnavailable(self._acl_missing(), type(exc).__name__) from None
            if isinstance(exc, REFUSED_RECORD_ERRORS):
                raise RecordRefused(f"broker refused the record: {exc!r}",
                                    type(exc).__name__) from None
            raise BrokerUnavailable(f"broker did not acknowledge: {exc!r}",
                                    type(exc).__name__) from None

    def _replace(self, broken: AIOKafkaProducer, error: Exception) -> None:
        """Drop a producer that cannot write any more and connect a new one; meanwhile
        the edge answers 503 (not ready), as at start-up."""
        log.error("the producer cannot write any more; starting a new one",
                  extra={"error": repr(error)})
        self._producer = None
        stopping = asyncio.create_task(broken.stop())
        self._retired.add(stopping)
        stopping.add_done_callback(self._retired.discard)
        self._connector = asyncio.create_task(self._connect())

    async def ready(self, topics: list[str]) -> tuple[bool, str]:
        """Whether the edge can publish, and a reason fit for a public answer: the
        broker's own error text goes to the log only."""
        if self._producer is None:
            return False, "not connected to the broker"
        try:
            missing = await asyncio.wait_for(missing_topics(self._kafka, topics), 5)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("readiness: broker unreachable", extra={"error": repr(exc)})
            return False, "broker unreachable"
        if missing:
            return False, f"{len(missing)} topic(s) missing"
        return True, "ok"

    async def replicas(self, topic: str) -> Replicas:
        """How the topic's partitions stand with their in-sync replicas; the topics'
        `min.insync.replicas` is what `topics` sets: 2 from replication factor 3."""
        admin = self._kafka.admin(request_timeout_ms=5_000)
        try:
            await asyncio.wait_for(admin.start(), 5)
            (found,) = await asyncio.wait_for(admin.describe_topics([topic]), 5)
        finally:
            await admin.close()
        min_isr = 2 if self._settings.replication_factor >= 3 else 1
        return Replicas.of(found["partitions"], min_isr)
