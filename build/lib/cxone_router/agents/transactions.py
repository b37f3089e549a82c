"""Exactly once: a transaction per raw partition per commit interval.

What an input offset produced (its channel and fan-out records, its dead letters, its
dedup marks in the table's changelog) and the offset itself (`send_offsets_to_transaction`)
are committed in one transaction, or not at all; `read_committed` readers never see the
writes of an aborted one.

Zombies are fenced as Kafka Streams did before KIP-447 (its `exactly_once`, "EOS alpha"):
one transactional producer per assigned raw partition, its `transactional.id` the
worker group's id and the partition (`cxone-router-3`). The producer is started when the
partition is assigned, before the table's recovery and the seek to the committed offset:
starting it (InitProducerId) bumps the id's epoch, which ends the previous owner's open
transaction and fences that owner, so a worker paused past its session timeout cannot
write or commit once it wakes up (aiokafka has no consumer-group fencing, KIP-447, which
would let one producer serve every partition). Once the epoch is bumped, the committed
offset and the changelog are stable: no transaction of the old owner can still commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiokafka.errors import TransactionalIdAuthorizationFailed

from cxone_router.agents.delivery import Writer
from cxone_router.kafka.clients import Connection, producer_config
from cxone_router.settings import Settings

if TYPE_CHECKING:
    from cxone_router.agents.metrics import WorkerMetrics

log = logging.getLogger(__name__)


def transactional_id(group: str, partition: int) -> str:
    return f"{group}-{partition}"


class Transactions:
    """The transactional producers of the raw partitions this worker owns."""

    def __init__(self, kafka: Connection, settings: Settings, group: str,
                 metrics: WorkerMetrics,
                 crash: Callable[[BaseException], Awaitable[None]],
                 outputs: list[str] | None = None) -> None:
        """`outputs`: the topics written, whose own size limits are read at the first
        assignment (a record the broker refuses would end its transaction)."""
        self._kafka = kafka
        self._options = {**producer_config(settings), "enable_idempotence": True,
                         "linger_ms": 1,
                         # a transaction left open (a worker killed) is aborted by then
                         "transaction_timeout_ms": 60_000}
        self._group = group
        self._metrics = metrics
        self._crash = crash
        self._producers: dict[int, Any] = {}
        self._writers: dict[int, Writer] = {}
        self._open: set[int] = set()  # partitions with a transaction begun
        self._outputs = outputs or []
        self._limits: dict[str, int] | None = None

    async def assign(self, partitions: set[int]) -> None:
        """Start a producer for each partition not yet held (fencing its last owner)."""
        if self._limits is None:
            self._limits = await topic_limits(self._kafka, self._outputs)
        new = sorted(partitions - self._producers.keys())
        if new:
            await asyncio.gather(*(self._start(p) for p in new))
            log.info("transactional producers started", extra={"partitions": new})

    async def _start(self, partition: int) -> None:
        tid = transactional_id(self._group, partition)
        producer = self._kafka.producer(transactional_id=tid, **self._options)
        try:
            await producer.start()  # InitProducerId: the previous owner is fenced
        except TransactionalIdAuthorizationFailed:
            log.critical("worker stopping: its principal may not use the transactional id "
                         "%s (exactly once): grant it with `cxone-router acls --role worker "
                         "--principal User:NAME --apply`, or set "
                         "CXR_PROCESSING_GUARANTEE=at_least_once", tid)
            raise
        self._producers[partition] = producer
        self._writers[partition] = Writer(lambda: producer, self._metrics, self._crash,
                                          transactional=True, limits=self._limits)

    async def begin(self, partition: int) -> Writer:
        """The partition's writer, in a transaction."""
        if partition not in self._producers:
            await self.assign({partition})
        if partition not in self._open:
            await self._producers[partition].begin_transaction()
            self._open.add(partition)
        return self._writers[partition]

    async def commit(self, offsets: dict[Any, int]) -> None:
        """Commit every open transaction, each with its partition's next offsets."""
        open_now = sorted(self._open)
        await asyncio.gather(*(self._commit(p, {tp: o for tp, o in offsets.items()
                                                if tp.partition == p})
                               for p in open_now))

    async def _commit(self, partition: int, offsets: dict[Any, int]) -> None:
        producer = self._producers[partition]
        if offsets:
            await producer.send_offsets_to_transaction(offsets, self._group)
        await producer.commit_transaction()
        self._open.discard(partition)

    async def close(self) -> None:
        """Stop every producer (after a commit: a rebalance revokes them all). A
        transaction still open is aborted by its coordinator."""
        producers, self._producers, self._writers = self._producers, {}, {}
        self._open.clear()
        await asyncio.gather(*(p.stop() for p in producers.values()),
                             return_exceptions=True)


async def topic_limits(kafka: Connection, topics: list[str]) -> dict[str, int]:
    """Each topic's max.message.bytes (DescribeConfigs); what cannot be read is left out,
    and the broker's refusal then ends the transaction and stops the worker."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from cxone_router.ops.describe import config_entries

    if not topics:
        return {}
    limits: dict[str, int] = {}
    admin = kafka.admin()
    try:
        await admin.start()
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics])
    except Exception as exc:  # noqa: BLE001 - no DESCRIBE_CONFIGS: the limit stays unknown
        log.warning("the output topics' size limits could not be read: %r", exc)
        return limits
    finally:
        await admin.close()
    for topic, entry in config_entries(responses):
        if entry.get("config_names") == "max.message.bytes" and entry.get("config_value"):
            limits[topic] = int(entry["config_value"])
    return limits
