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
recovery and standbys, the commit timer and the commits around rebalances. At least once,
offsets reach Faust's commit as acks once everything their events produced was
acknowledged: the records handled, and the offsets between (a partition's gaps: compacted
or control records) are added to Faust's acked offsets, from which its commit takes the
contiguous run. Exactly once, they are committed in each partition's transaction instead
(agents/transactions.py). A rebalance or a stop waits for the batches in flight
(`Consumer.wait_empty`, the revocation's and the stop's own wait), so its commit includes
them; a rebalance's assignment starts the partitions' transactional producers before
Faust's recovery (`TableManager.on_rebalance`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from faust.tables.manager import TableManager
from faust.transport.consumer import CONSUMER_FETCHING, Consumer

from cxone_router.agents.delivery import WorkerStopping

if TYPE_CHECKING:
    from cxone_router.agents.delivery import Writer
    from cxone_router.agents.transactions import Transactions

log = logging.getLogger(__name__)

#: One fetch's raw records, partition by partition, in offset order within each.
Fetched = Sequence[tuple[Any, Sequence[Any]]]
#: Takes a batch of raw records and the writer for it, and queues their writes; the future
#: returned settles them.
Submit = Callable[[Fetched, "Writer"], Awaitable["asyncio.Future[None]"]]
_ATTRIBUTE = "_cxr_drain"


class Drain:
    """Where an app's raw records go, and the commit model of Kafka Streams on them.

    `submit(batch, writer)` transforms a batch and queues its writes, and returns at once
    with a future that settles them (acknowledged writes, dead letters, dedup marks). The
    next batch is taken while earlier ones are in flight, up to `max_in_flight` records;
    then the oldest must settle first (back-pressure). Batches count as done in the order
    taken, each once it and every batch before it settled:

    - at least once (`transactions` None): done batches are acked to Faust, whose commit
      (every `commit_interval`) takes only offsets whose events are wholly written;
    - exactly once: each batch holds one partition's records and is written in that
      partition's transaction; `commit` (every `commit_interval`) waits for the batches in
      flight, then commits each open transaction with its partition's next offsets."""

    def __init__(self, topic: str, submit: Submit, batch_size: int, max_in_flight: int,
                 writer: Writer | None = None,
                 transactions: Transactions | None = None) -> None:
        self.topic = topic
        self._submit = submit
        self._batch_size = batch_size  # records per submit at most
        self._max_in_flight = max_in_flight
        self._writer = writer
        self._transactions = transactions
        self._in_flight: deque[tuple[Fetched, int, asyncio.Future[None]]] = deque()
        self._records_in_flight = 0
        self._in_hand: asyncio.Future[None] | None = None
        self._consumer: Any = None
        self._failure: BaseException | None = None
        self._offsets: dict[Any, int] = {}  # exactly once: done, for the next commit
        self._lock = asyncio.Lock()  # exactly once: no submit during a commit

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
        per_partition = self._transactions is not None
        for batch in _batches(fetched, self._batch_size, per_partition):
            self._raise_failure()
            while self._records_in_flight >= self._max_in_flight and self._in_flight:
                await asyncio.wait([self._in_flight[0][2]])
                self._raise_failure()
            async with self._lock:
                if self._transactions is None:
                    assert self._writer is not None
                    writer = self._writer
                else:
                    writer = await self._transactions.begin(batch[0][0].partition)
                settled = await self._submit(batch, writer)
                n = sum(len(records) for _, records in batch)
                self._in_flight.append((batch, n, settled))
                self._records_in_flight += n
                settled.add_done_callback(self._done)

    def _done(self, _: object = None) -> None:
        """Count as done, in the order taken, every batch that settled after all before
        it did: ack it to Faust, or keep its offsets for the transaction's commit."""
        in_flight = self._in_flight
        while in_flight and in_flight[0][2].done() and self._failure is None:
            batch, n, settled = in_flight[0]
            if settled.cancelled() or settled.exception() is not None:
                # a bug, not a write (those are retried inside): nothing after it is done
                self._failure = (asyncio.CancelledError() if settled.cancelled()
                                 else settled.exception())
                if not isinstance(self._failure, WorkerStopping):  # that one said why
                    log.error("a batch failed to settle: %r", self._failure)
                return
            in_flight.popleft()
            self._records_in_flight -= n
            for tp, records in batch:
                if self._transactions is None:
                    _ack(self._consumer, tp, records[0].offset, records[-1].offset)
                else:
                    self._offsets[tp] = records[-1].offset + 1

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise RuntimeError("a batch of raw records failed to settle") from self._failure

    async def _settle_in_flight(self) -> None:
        while self._in_flight and self._failure is None:
            await asyncio.wait([self._in_flight[0][2]])
            self._done()
        self._raise_failure()

    async def commit(self) -> None:
        """Exactly once: commit what is done, each partition's transaction with its
        offsets (the batches in flight first settle; none is taken meanwhile)."""
        if self._transactions is None:
            return
        async with self._lock:
            await self._settle_in_flight()
            offsets, self._offsets = self._offsets, {}
            await self._transactions.commit(offsets)

    async def on_assigned(self, assigned: set[Any]) -> None:
        """Before the table's recovery and the seek: exactly once, the partitions'
        producers start, fencing their previous owners."""
        if self._transactions is not None:
            await self._transactions.assign(
                {tp.partition for tp in assigned if tp.topic == self.topic})

    async def settle(self) -> None:
        """Before a rebalance's or a stop's commit: wait until the fetch in hand and every
        batch in flight settled and were acked, or, exactly once, commit them and stop the
        producers (a rebalance revokes every partition)."""
        if self._in_hand is not None:
            await _finish(self._in_hand)
        if self._transactions is None:
            await self._settle_in_flight()
            return
        try:
            await self.commit()
        finally:
            await self._transactions.close()


def _batches(fetched: Fetched, size: int, per_partition: bool = False) -> list[Fetched]:
    """`fetched` cut into batches of `size` records at most, partitions in order; with
    `per_partition`, each batch holds one partition's records only."""
    if not per_partition and sum(len(records) for _, records in fetched) <= size:
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
        if per_partition and batch:
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
        try:
            await drain.settle()
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - e.g. fenced: this worker must stop
            # what was done before the failed batch is still committed (at least once)
            if not isinstance(exc.__cause__, WorkerStopping):
                log.critical("worker stopping: its batches could not be committed: %r", exc)
                await self.app.crash(exc)
    await _wait_empty(self)


_on_rebalance = TableManager.on_rebalance


async def _on_rebalance_after_drain(self: Any, assigned: set[Any], revoked: set[Any],
                                    newly_assigned: set[Any], generation_id: int = 0) -> None:
    """The drain's `on_assigned` first, then Faust's (which starts the table's recovery)."""
    drain: Drain | None = getattr(self.app, _ATTRIBUTE, None)
    if drain is not None:
        await drain.on_assigned(assigned)
    await _on_rebalance(self, assigned, revoked, newly_assigned, generation_id)


def install() -> None:
    if Consumer._drain_messages is not _drain_in_batches:
        Consumer._drain_messages = _drain_in_batches  # type: ignore[method-assign]
        Consumer.wait_empty = _wait_empty_and_drained  # type: ignore[method-assign]
        TableManager.on_rebalance = _on_rebalance_after_drain  # type: ignore[method-assign]
