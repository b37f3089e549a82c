"""The raw topic's records go to the ingest handler a fetch at a time, past Faust's streams.

Faust hands a consumer's records to its agents one at a time: a `Message` and an `Event`
per record, a callback raced against the flow's suspension (two tasks per record), a queue,
the stream's iterator, a reference count and an ack. For this worker that machinery cost
more CPU than the work itself (BENCHMARKS.md). Here Faust's fetch loop
(`Consumer._drain_messages`) is replaced, for an app that registers a `Drain`, by one that
gives the raw topic's records, as aiokafka fetched them, to the handler in one call per
fetch; records of any other topic (the table's changelogs during recovery) still go
through Faust's per-message path.

What Faust is for stays Faust's: group membership and the assignment, the table, its
recovery and standbys, the commit timer and the commits around rebalances. Offsets reach
Faust's commit as acks, once the handler returned, i.e. once everything their events
produced was acknowledged: the records handled, and the offsets between (a partition's
gaps: compacted or control records) are added to Faust's acked offsets, from which its
commit takes the contiguous run. A rebalance or a stop waits for the fetch in hand
(`Consumer.wait_empty`, the revocation's and the stop's own wait), so its commit
includes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING, Consumer

log = logging.getLogger(__name__)

#: One fetch's raw records, partition by partition, in offset order within each.
Fetched = Sequence[tuple[Any, Sequence[Any]]]
#: Takes a batch of raw records and queues their writes; the future settles them.
Submit = Callable[[Fetched], Awaitable["asyncio.Future[None]"]]
_ATTRIBUTE = "_cxr_drain"


class Drain:
    """Where an app's raw records go, and the commit model of Kafka Streams on them.

    `submit(batch)` transforms a batch and queues its writes, and returns at once with a
    future that settles them (acknowledged writes, dead letters, dedup marks). The next
    batch is taken while earlier ones are in flight, up to `max_in_flight` records; then
    the oldest must settle first (back-pressure). Batches are acked to Faust in the order
    taken, each once it and every batch before it settled, so that Faust's commit (every
    `commit_interval`) takes only offsets whose events are wholly written."""

    def __init__(self, topic: str, submit: Submit, batch_size: int,
                 max_in_flight: int) -> None:
        self.topic = topic
        self._submit = submit
        self._batch_size = batch_size  # records per submit at most
        self._max_in_flight = max_in_flight
        self._in_flight: deque[tuple[Fetched, int, asyncio.Future[None]]] = deque()
        self._records_in_flight = 0
        self._in_hand: asyncio.Future[None] | None = None
        self._consumer: Any = None
        self._failure: BaseException | None = None

    def attach(self, app: Any) -> None:
        install()
        setattr(app, _ATTRIBUTE, self)

    async def take(self, consumer: Any, fetched: Fetched) -> None:
        """Submit one fetch, batch by batch, waiting for room when too much is in flight.
        The submits run to their end however often the caller is cancelled meanwhile (a
        stopping worker cancels its fetcher, then waits in `settle`)."""
        self._consumer = consumer
        task = self._in_hand = asyncio.ensure_future(self._take(fetched))
        try:
            await _finish(task)
        finally:
            self._in_hand = None

    async def _take(self, fetched: Fetched) -> None:
        for batch in _batches(fetched, self._batch_size):
            self._raise_failure()
            while self._records_in_flight >= self._max_in_flight and self._in_flight:
                await asyncio.wait([self._in_flight[0][2]])
                self._raise_failure()
            settled = await self._submit(batch)
            n = sum(len(records) for _, records in batch)
            self._in_flight.append((batch, n, settled))
            self._records_in_flight += n
            settled.add_done_callback(self._ack_settled)

    def _ack_settled(self, _: object = None) -> None:
        """Ack, in the order taken, every batch that settled after all before it did."""
        in_flight = self._in_flight
        while in_flight and in_flight[0][2].done() and self._failure is None:
            batch, n, settled = in_flight[0]
            if settled.cancelled() or settled.exception() is not None:
                # a bug, not a write (those are retried inside): nothing after it is acked
                self._failure = (asyncio.CancelledError() if settled.cancelled()
                                 else settled.exception())
                log.error("a batch failed to settle: %r", self._failure)
                return
            in_flight.popleft()
            self._records_in_flight -= n
            for tp, records in batch:
                _ack(self._consumer, tp, records[0].offset, records[-1].offset)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise RuntimeError("a batch of raw records failed to settle") from self._failure

    async def settle(self) -> None:
        """Wait until the fetch in hand and every batch in flight settled and were acked."""
        if self._in_hand is not None:
            await _finish(self._in_hand)
        while self._in_flight and self._failure is None:
            await asyncio.wait([self._in_flight[0][2]])
            self._ack_settled()


def _batches(fetched: Fetched, size: int) -> list[Fetched]:
    """`fetched` cut into batches of `size` records at most, partitions in order."""
    if sum(len(records) for _, records in fetched) <= size:
        return [fetched]
    batches: list[Fetched] = []
    batch: list[tuple[Any, Sequence[Any]]] = []
    room = size
    for tp, records in fetched:
        start = 0
        while start < len(records):
            part = records[start:start + room]
            batch.append((tp, part))
            start += len(part)
            room -= len(part)
            if not room:
                batches.append(batch)
                batch, room = [], size
    if batch:
        batches.append(batch)
    return batches


def _ack(consumer: Any, tp: Any, first: int, last: int) -> None:
    """Ack offsets `first`..`last` of `tp`, and the gap below `first` since the last ack
    (or the last commit): Faust commits the contiguous run of acked offsets."""
    committed = consumer._committed_offset[tp]
    acked = consumer._acked[tp]
    start = acked[-1] + 1 if acked else (committed if committed is not None else first)
    start = min(start, first)
    if committed is not None:
        start = max(start, committed)
    if start > last:
        return
    offsets = range(start, last + 1)
    acked.extend(offsets)
    consumer._acked_index[tp].update(offsets)
    consumer._n_acked += len(offsets)


async def _finish(task: asyncio.Future[None]) -> None:
    """Wait for `task` however many times the waiter is cancelled meanwhile; then raise
    the cancellation, if there was one."""
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


# ---- the patch on Faust's consumer -------------------------------------------------------

_drain_messages = Consumer._drain_messages
_wait_empty = Consumer.wait_empty


async def _drain_in_batches(self: Any, fetcher: Any) -> None:
    """Faust's `Consumer._drain_messages`, with the raw topic's records handed over a
    fetch at a time; the rest as Faust does it (the checks, the stop, the errors)."""
    drain: Drain | None = getattr(self.app, _ATTRIBUTE, None)
    if drain is None:
        await _drain_messages(self, fetcher)
        return
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    read_offset = self._read_offset
    set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
    commit_every = self._commit_every
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(CONSUMER_FETCHING)
            records, active = await self._wait_next_records(1.0)
            await self.sleep(0)
            if records is None or self.should_stop:
                continue
            if not self.flow_active:
                await _seek_back(self)
                continue
            generation = self.app.consumer_generation_id
            fetched: list[tuple[Any, Sequence[Any]]] = []
            for tp, batch in records.items():
                if active is not None and tp not in active and \
                        tp not in self._buffered_partitions:
                    continue
                if tp.topic != drain.topic:
                    await _one_at_a_time(self, tp, batch)
                    continue
                read = read_offset.get(tp)
                if read is not None and batch[0].offset < read:
                    batch = [r for r in batch if r.offset >= read]
                if batch:
                    fetched.append((tp, batch))
            # records fetched before a rebalance began are read again after its seek
            if fetched and self.flow_active and \
                    generation == self.app.consumer_generation_id:
                await drain.take(self, fetched)
                for tp, batch in fetched:
                    read_offset[tp] = batch[-1].offset
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
            unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(CONSUMER_FETCHING)


async def _seek_back(consumer: Any) -> None:
    """What Faust's `getmany` does when called with the flow stopped."""
    try:
        await consumer.perform_seek()
    except Exception as exc:  # noqa: BLE001 - as Faust: logged, the next fetch retries
        log.warning("seek to the committed offsets failed: %r", exc)


async def _one_at_a_time(consumer: Any, tp: Any, records: Sequence[Any]) -> None:
    """Faust's own path, for records of other topics (the table's changelogs)."""
    read_offset = consumer._read_offset
    for record in records:
        if not consumer.flow_active:
            return
        offset = record.offset
        read = read_offset.get(tp)
        if read is None or offset >= read:
            if read and offset - read > 1 and consumer.app.topics.acks_enabled_for(tp.topic):
                await consumer._add_gap(tp, read + 1, offset)
            await consumer.wait_first(consumer.callback(consumer._to_message(tp, record)),
                                      consumer.suspend_flow.wait())
            read_offset[tp] = offset


async def _wait_empty_and_drained(self: Any) -> None:
    drain: Drain | None = getattr(self.app, _ATTRIBUTE, None)
    if drain is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await drain.settle()
    await _wait_empty(self)


def install() -> None:
    if Consumer._drain_messages is not _drain_in_batches:
        Consumer._drain_messages = _drain_in_batches  # type: ignore[method-assign]
        Consumer.wait_empty = _wait_empty_and_drained  # type: ignore[method-assign]
