"""Three corrections to faust-streaming 0.15.3, installed before the app is built.

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

2. A configurable fetch wait. Faust hard-codes `fetch_max_wait_ms=1500` for its consumer.
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

Also here, as it reads Faust's and aiokafka's internals: `fatal_group_error`. aiokafka
keeps a consumer-group error it cannot recover from (a session timeout outside the
broker's bounds, a group it may not join) for the user's next `getmany`; Faust fetches
through aiokafka's fetcher instead, so the error is never raised and the worker idles
forever without partitions. The worker asks for it and stops (agents/app.py).
"""

from __future__ import annotations

from typing import Any

from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

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


def install(fetch_max_wait_ms: int, read_committed: bool = False) -> None:
    global _fetch_max_wait_ms, _read_committed
    _fetch_max_wait_ms = fetch_max_wait_ms
    _read_committed = read_committed
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
