"""Write a batch of output records and wait until the broker acknowledged every one."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.producer.message_accumulator import BatchBuilder

from cxone_router.kafka.clients import BROKEN_PRODUCER_ERRORS, REFUSED_RECORD_ERRORS
from cxone_router.kafka.headers import Headers
from cxone_router.kafka.partition import murmur2
from cxone_router.retry import RetryPolicy

if TYPE_CHECKING:
    from cxone_router.agents.metrics import WorkerMetrics

log = logging.getLogger(__name__)
# Writes the broker may take later are retried until it does, waiting at most 10 s between
RETRY = RetryPolicy(base=0.2, cap=10.0, max_attempts=None)
# Keys whose partition is remembered: an interaction's events and their outputs share one
PARTITION_CACHE = 65_536
# A record batch's size at most (or the record limit, if lower): fewer, larger batches
BATCH_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers | None = None
    partition: int | None = None  # None: by key, as Kafka's default partitioner places it


@dataclass(frozen=True, slots=True)
class Refused:
    """An output the broker will never take as it is, and why."""

    output: Output
    error: BaseException


#: Queued record batches: the outputs in each, and its delivery future.
Sent = list[tuple[list[Output], "asyncio.Future[Any]"]]


def key_partition(key: bytes, partitions: int) -> int:
    """Where Kafka's default partitioner (Java's and aiokafka's) puts a key."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


class Writer:
    """Writes a batch of outputs as one record batch per topic partition on the app's
    producer (aiokafka's `send_batch`): no future, coroutine or partitioner call per record,
    the same producer, acks, idempotence and per-partition order.

    A partition's records are appended in the order given, so per-key order holds; a
    record refused for what it is fails its whole record batch, so that batch's records are
    sent again one per batch, to find which one the broker refuses."""

    def __init__(self, producer: Callable[[], Any], metrics: WorkerMetrics,
                 crash: Callable[[BaseException], Awaitable[None]],
                 transactional: bool = False, limits: dict[str, int] | None = None) -> None:
        self._producer = producer  # called when writing: Faust creates it at start
        self._metrics = metrics
        self._crash = crash
        # in a transaction a failed write is not sent again: the transaction cannot commit
        self._transactional = transactional
        # topics' own max.message.bytes where lower than the producer's limit: a record over
        # it is refused here, before the broker refuses it (in a transaction, for good)
        self._limits = limits or {}
        self._partitions: dict[bytes, tuple[int, int]] = {}  # key -> (partition count, p)

    async def deliver(self, outputs: list[Output]) -> list[Refused]:
        """At-least-once: what fails is sent again, in order, until the broker takes it.

        A batch that cannot be queued (the producer raises at once) counts as a failed
        write too, so nothing escapes. A record refused for what it is
        (`REFUSED_RECORD_ERRORS`, e.g. over the size limit) would be refused forever: it is
        not retried but returned, for the caller to dead-letter."""
        return await self.settle(await self.send(outputs))

    async def send(self, outputs: list[Output]) -> Sent:
        """Queue `outputs`; `settle` waits for them."""
        return await self._send(outputs, set())

    async def settle(self, batches: Sent) -> list[Refused]:
        """Wait until the broker acknowledged what `send` queued, sending again what failed
        (`deliver`); the outputs refused for good."""
        alone: set[int] = set()  # ids of outputs to send in a record batch of their own
        refused: list[Refused] = []
        attempt = 0
        while batches:
            results = await asyncio.gather(*(f for _, f in batches), return_exceptions=True)
            failed: list[Output] = []
            errors: list[BaseException] = []
            now_refused: list[Refused] = []
            retry_alone: list[Output] = []
            for (sent, _), result in zip(batches, results, strict=True):
                if not isinstance(result, BaseException):
                    continue
                if isinstance(result, REFUSED_RECORD_ERRORS):
                    if len(sent) == 1:
                        now_refused.append(Refused(sent[0], result))
                    else:  # which of them? each again on its own, at once
                        alone.update(id(o) for o in sent)
                        retry_alone.extend(sent)
                else:
                    failed.extend(sent)
                    errors.append(result)
            if now_refused:
                self._note_refused(now_refused)
                refused += now_refused
            if not failed:
                batches = await self._send(retry_alone, alone)
                continue
            if self._transactional:
                await self.stop_worker(errors[0], "a write of its transaction failed (the "
                                       "transaction is aborted; its events are read again)")
            attempt += 1
            for error_class, n in Counter(type(e).__name__ for e in errors).items():
                self._metrics.retried(error_class, n)
            if broken := next((e for e in errors if isinstance(e, BROKEN_PRODUCER_ERRORS)),
                              None):
                await self.stop_worker(broken)
            log.warning("output writes failed, retrying", extra={
                "failed": len(failed), "attempt": attempt, "error": repr(errors[0])})
            await asyncio.sleep(RETRY.delay(attempt - 1))
            batches = await self._send([*retry_alone, *failed], alone)
        return refused

    async def _send(self, outputs: list[Output], alone: set[int]) -> Sent:
        """Queue `outputs` as record batches, in order per partition: each batch's outputs
        and its delivery future (an already failed one for what could not be queued)."""
        producer = self._producer()
        by_partition: dict[tuple[str, int], list[Output]] = {}
        queued: Sent = []
        counts: dict[str, int] = {}
        for o in outputs:
            partition = o.partition
            if partition is None:
                n = counts.get(o.topic)
                if n is None:
                    try:
                        n = counts[o.topic] = len(await producer.partitions_for(o.topic))
                    except Exception as exc:  # noqa: BLE001 - retried like a failed write
                        queued.append(([o], _failed(exc)))
                        continue
                partition = self._partition_of(o.key, n)
            by_partition.setdefault((o.topic, partition), []).append(o)
        request_limit = producer._max_request_size
        compression = producer._message_accumulator._compression_type  # the codec attrs
        transactional = producer._txn_manager is not None and \
            producer._txn_manager.transactional_id is not None

        for (topic, partition), outs in by_partition.items():
            limit = min(request_limit, self._limits.get(topic, request_limit))

            def new_builder(size: int = min(limit, BATCH_BYTES)) -> BatchBuilder:
                return BatchBuilder(size, compression, is_transactional=transactional)

            for batch, builder in _record_batches(outs, limit, alone, new_builder):
                if builder is None:  # a record over the producer's or the topic's limit
                    queued.append((batch, _failed(MessageSizeTooLargeError(
                        f"the record is larger than {topic}'s limit ({limit} bytes)"))))
                    continue
                try:
                    future = await producer.send_batch(builder, topic, partition=partition)
                except Exception as exc:  # noqa: BLE001 - retried by deliver, never escapes
                    future = _failed(exc)
                queued.append((batch, future))
        return queued

    def _partition_of(self, key: bytes | None, partitions: int) -> int:
        if key is None:
            return random.randrange(partitions)
        known = self._partitions.get(key)
        if known is not None and known[0] == partitions:
            return known[1]
        if len(self._partitions) >= PARTITION_CACHE:
            self._partitions.clear()
        partition = key_partition(key, partitions)
        self._partitions[key] = (partitions, partition)
        return partition

    def _note_refused(self, refused: list[Refused]) -> None:
        for (topic, error_class), n in Counter(
                (r.output.topic, type(r.error).__name__) for r in refused).items():
            self._metrics.refused(topic, error_class, n)
        first = refused[0]
        log.error("the broker refused output records for good, not retrying them", extra={
            "refused": len(refused), "topic": first.output.topic,
            "bytes": len(first.output.value), "error": repr(first.error)})

    async def stop_worker(self, error: BaseException,
                          why: str = "its producer cannot write any more") -> NoReturn:
        """Stop the worker (exit 1) when it cannot go on: e.g. its producer is broken (a
        supervisor starts it again with a new one). Raises `WorkerStopping`: the batch is
        not done, so its offsets are not committed (nor its transaction): the next owner of
        the partitions processes it."""
        log.critical("worker stopping: %s: %r", why, error)
        await self._crash(error)
        raise WorkerStopping(why) from error


class WorkerStopping(Exception):
    """A batch that ended the worker (`Writer.stop_worker`): already logged."""


def _record_batches(outputs: list[Output], limit: int, alone: set[int],
                    new_builder: Callable[[], BatchBuilder]
                    ) -> Iterator[tuple[list[Output], BatchBuilder | None]]:
    """One partition's outputs as closed record batches, in order; an output larger than
    `limit` alone, without a builder (the producer's own check, before anything is sent)."""
    batch: list[Output] = []
    builder = new_builder()
    for o in outputs:
        if id(o) in alone and batch:
            builder.close()
            yield batch, builder
            batch, builder = [], new_builder()
        headers = o.headers if type(o.headers) is list else list(o.headers or ())
        if builder.append(timestamp=None, key=o.key, value=o.value,
                          headers=headers) is None:  # full: the next batch
            yield batch, builder  # append closed it
            batch, builder = [], new_builder()
            builder.append(timestamp=None, key=o.key, value=o.value, headers=headers)
        if not batch and builder.size() > limit:
            yield [o], None
            builder = new_builder()
            continue
        batch.append(o)
        if id(o) in alone:
            builder.close()
            yield batch, builder
            batch, builder = [], new_builder()
    if batch:
        builder.close()
        yield batch, builder


def _failed(error: BaseException) -> asyncio.Future[Any]:
    failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    failed.set_exception(error)
    return failed
