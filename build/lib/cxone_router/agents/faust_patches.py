"""Six corrections to faust-streaming 0.15.3, installed before the app is built.

1. No stream records read before the post-recovery seek.

When a worker's tables had data to restore, Faust's `Recovery.on_recovery_completed`
resumes the stream partitions while the flow is still running from the changelog phase,
and only then seeks them to their committed offsets. Records fetched in that window are
processed, the seek rewinds under them, and records already prefetched past it can be
dropped while later ones are acked and committed: records are lost. Seen here on every
few worker restarts (tests/integration/test_resilience.py). The upstream fix for the
same ordering bug in `_resume_streams` (faust-streaming PR #217) did not cover this path.

The fix stops the flow before resuming the partitions, so nothing is processed until the
seek has happened; the rest of the method is Faust's own.

2. A configurable fetch wait (and, exactly once, `read_committed`: Faust sets it only for
its own exactly_once, which this worker does not use). Faust hard-codes
`fetch_max_wait_ms=1500` for its consumer.
The embedded broker does not answer a long-polling fetch over many partitions when data
arrives: it holds it for about half the wait or the whole of it (measured: 750 or 1,500 ms
per hop at 1500, about 50 ms at 100). With a short wait each hop of the pipeline costs a
few ms. On real Kafka a long poll returns as soon as data arrives, so the wait only sets
how often an idle consumer asks.

3. A rewind to the log's start for a partition nothing was committed on yet. When Faust
stops the flow (a rebalance, a table's recovery completing), it drops the records already
fetched and in its queues, and counts on a seek to the committed offsets to read them
again. aiokafka's `seek_to_committed` seeks only partitions with a committed offset above
0, so on a partition with none yet the position stays past the dropped records, and the
first records of a partition were lost for good (seen in the fault drills: the first event
of the traffic, at offset 0, produced while a second worker's join was still recovering
the dedup table; about one drill in two after worker start-up grew slower). Such a
partition is now rewound to its beginning, which `auto_offset_reset=earliest` would have
read from anyway; what was processed before is dropped again by the dedup table.

4. The changelog's end as a reader finds it. Faust's recovery reads a table's changelog
until it has seen the offset before the partition's end offset. That offset need not
hold a record a reader gets: with exactly once, a transaction's commit or abort marker
takes an offset (the last one, after every commit), and aborted marks are skipped by a
read_committed reader; the embedded broker reports an end offset short of its last batch
(the batch's base offset + 1). Recovery then waited for ever (seen in the worker-kill
drill: 'No event received for active tp ... since recovery start'), or stopped with a
ConsistencyError: on the embedded broker, a worker that had read a changelog partition's
whole last batch (as a standby, or an active partition it kept through a rebalance) holds
an offset above Faust's end, and at the next rebalance its consistency check stopped the
worker ("(714 > 713)"; once dedup marks reach the changelog several to a batch, e.g. at
300-400 events/s: tests/integration/test_embedded_workers.py). Here the end each recovery
waits for is the offset of the last record a read_committed reader gets, found by reading
the partition's tail (`last_records`).

5. The livelock detector on a partition without a position. Faust's detector asks
aiokafka for each assigned partition's position, which asserts that there is one; right
after an assignment there is not yet, and the AssertionError crashed the worker (seen once
in make test, a worker restarted after kill -9). Such a partition is skipped this round.

6. A rebalance that comes in while a recovery is seeking. Faust's recovery seeks the
changelog partitions of the rebalance it started with, but a new rebalance replaces those
partitions (their offsets not built yet: None) before the seek's task runs; aiokafka then
refuses the offset ('Offset must be a positive integer') and the worker crashed (seen on
the embedded broker: a killed worker's session expired, and it rejoined while the other
worker recovered). The seek now starts over with the new rebalance, as Faust does when
the new one is noticed a step later.

Also here, as it reads Faust's and aiokafka's internals: `fatal_group_error`. aiokafka
keeps a consumer-group error it cannot recover from (a session timeout outside the
broker's bounds, a group it may not join) for the user's next `getmany`; Faust fetches
through aiokafka's fetcher instead, so the error is never raised and the worker idles
forever without partitions. The worker asks for it and stops (agents/app.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition
from faust.tables.recovery import RebalanceAgain, Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

log = logging.getLogger(__name__)
_original = Recovery.on_recovery_completed
_PATCHED = "_cxr_seek_before_flow"


async def _on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    self.app.flow_control.suspend()
    self.app.consumer.stop_flow()
    await _original(self, generation_id)


_seek_to_committed = AIOKafkaConsumerThread.seek_to_committed


async def _seek_to_committed_or_beginning(self: Any) -> Any:
    committed = await _seek_to_committed(self)
    unstarted = [tp for tp, offset in committed.items() if offset is None or offset <= 0]
    if unstarted:
        await self.call_thread(self._ensure_consumer().seek_to_beginning, *unstarted)
    return committed


_create_worker_consumer = AIOKafkaConsumerThread._create_worker_consumer
_fetch_max_wait_ms = 1500
_read_committed = False


def _create_worker_consumer_with_wait(self: Any, transport: Any) -> Any:
    consumer = _create_worker_consumer(self, transport)
    consumer._fetch_max_wait_ms = _fetch_max_wait_ms  # read when the consumer starts
    if _read_committed:  # exactly once without Faust's own: its changelogs too
        consumer._isolation_level = "read_committed"
    return consumer


_build_highwaters = Recovery._build_highwaters
_tail_reader: Callable[[], Any] | None = None


async def _build_readable_highwaters(self: Any, consumer: Any, tps: set[Any],
                                     destination: Any, title: str) -> None:
    await _build_highwaters(self, consumer, tps, destination, title)
    if _tail_reader is None or not tps:
        return
    faust_tps = {(tp.topic, tp.partition): tp for tp in tps}
    try:
        readable = await last_records(_tail_reader(), {TopicPartition(*t) for t in faust_tps})
    except Exception as exc:  # noqa: BLE001 - Faust's own end offsets stand
        log.warning("the changelog's tail could not be read: %r", exc)
        return
    for tp, offset in readable.items():
        # Faust's "highwater": the last offset recovery waits to see
        destination[faust_tps[tp.topic, tp.partition]] = offset


async def last_records(reader: Any, tps: set[Any], timeout: float = 30.0) -> dict[Any, int]:
    """Per partition, the offset of the last record `reader` (a consumer without a group,
    not started) gets, or -1 for none: the tail is read, a wider one while it holds only
    markers or aborted records. A partition not read to its end within `timeout` is left
    out (Faust's own end offset stands)."""
    await reader.start()
    try:
        return await asyncio.wait_for(_last_records(reader, tps), timeout)
    except TimeoutError:
        log.warning("the changelog's tail was not read within %.0f s", timeout)
        return {}
    finally:
        await reader.stop()


async def _last_records(reader: Any, tps: set[Any]) -> dict[Any, int]:
    tps = set(tps)
    reader.assign(list(tps))
    begins = await reader.beginning_offsets(list(tps))
    ends = await reader.end_offsets(list(tps))
    last: dict[Any, int] = {tp: -1 for tp in tps}
    for tp in tps:
        window = 16
        while ends[tp] > begins[tp]:
            start = max(begins[tp], ends[tp] - window)
            reader.seek(tp, start)
            while await reader.position(tp) < ends[tp]:
                batch = await reader.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, ()):
                    last[tp] = max(last[tp], record.offset)
            # the embedded broker's end offset falls short of its last batch
            batch = await reader.getmany(tp, timeout_ms=0)
            for record in batch.get(tp, ()):
                last[tp] = max(last[tp], record.offset)
            if last[tp] >= 0 or start == begins[tp]:
                break
            window *= 8
    return last


_seek_offsets = Recovery._seek_offsets


async def _seek_offsets_of_this_rebalance(self: Any, consumer: Any, tps: set[Any],
                                          offsets: Any, title: str) -> None:
    if self.signal_recovery_start.is_set():  # tps and offsets are the next rebalance's
        raise RebalanceAgain()
    await _seek_offsets(self, consumer, tps, offsets, title)


_verify_event_path = AIOKafkaConsumerThread.verify_event_path


def _verify_event_path_when_positioned(self: Any, now: float, tp: Any) -> Any:
    try:
        return _verify_event_path(self, now, tp)
    except AssertionError:  # no position yet (just assigned): nothing to verify
        return None


def install(fetch_max_wait_ms: int, read_committed: bool = False,
            tail_reader: Callable[[], Any] | None = None) -> None:
    """`tail_reader`: makes the consumer `last_records` reads changelog tails with."""
    global _fetch_max_wait_ms, _read_committed, _tail_reader
    _fetch_max_wait_ms = fetch_max_wait_ms
    _read_committed = read_committed
    _tail_reader = tail_reader
    Recovery._build_highwaters = _build_readable_highwaters  # type: ignore[method-assign]
    Recovery._seek_offsets = _seek_offsets_of_this_rebalance  # type: ignore[method-assign]
    AIOKafkaConsumerThread.verify_event_path = (  # type: ignore[method-assign]
        _verify_event_path_when_positioned
    )
    if not getattr(Recovery.on_recovery_completed, _PATCHED, False):
        setattr(_on_recovery_completed, _PATCHED, True)
        Recovery.on_recovery_completed = _on_recovery_completed  # type: ignore[method-assign]
        AIOKafkaConsumerThread._create_worker_consumer = (  # type: ignore[method-assign]
            _create_worker_consumer_with_wait
        )
        AIOKafkaConsumerThread.seek_to_committed = (  # type: ignore[method-assign]
            _seek_to_committed_or_beginning
        )


def fatal_group_error(app: Any) -> BaseException | None:
    """The group error aiokafka holds for the user, if any (read only: the consumer lives
    on Faust's consumer thread)."""
    thread = getattr(app.consumer, "_thread", None)
    consumer = getattr(thread, "_consumer", None)
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is None:
        return None
    pending: BaseException | None = coordinator._pending_exception
    task = coordinator._coordination_task
    if pending is None and task.done() and not task.cancelled():
        pending = task.exception()
    return pending
