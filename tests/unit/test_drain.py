"""The drain's commit model: batches in flight are acked to Faust in the order taken, each
only once it and every batch before it settled; too much in flight waits; a batch that
fails to settle stops every later ack."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, NamedTuple

import pytest

from cxone_router.agents.drain import Drain, _ack, _batches


class TP(NamedTuple):
    topic: str
    partition: int


class Record(NamedTuple):
    partition: int
    offset: int


class FaustAcks:
    """The part of Faust's consumer the drain writes to: what `Consumer.ack` keeps."""

    def __init__(self, committed: dict[TP, int] | None = None) -> None:
        self._committed_offset: dict[TP, int | None] = defaultdict(lambda: None)
        self._committed_offset.update(committed or {})
        self._acked: dict[TP, list[int]] = defaultdict(list)
        self._acked_index: dict[TP, set[int]] = defaultdict(set)
        self._n_acked = 0


def fetch(tp: TP, first: int, last: int) -> tuple[TP, list[Record]]:
    return tp, [Record(tp.partition, o) for o in range(first, last + 1)]


T0, T1 = TP("raw", 0), TP("raw", 1)
WRITER: Any = object()  # what at-least-once gives every batch


def test_batches_keep_every_record_once_in_order_and_within_the_size() -> None:
    fetched = [fetch(T0, 0, 6), fetch(T1, 10, 14)]
    batches = _batches(fetched, 4)
    assert [sum(len(r) for _, r in b) for b in batches] == [4, 4, 4]
    flat = [(tp, r.offset) for b in batches for tp, records in b for r in records]
    assert flat == [(tp, r.offset) for tp, records in fetched for r in records]
    assert _batches(fetched, 12) == [fetched]
    per_partition = _batches(fetched, 4, per_partition=True)
    assert [[(tp, len(r)) for tp, r in b] for b in per_partition] == [
        [(T0, 4)], [(T0, 3)], [(T1, 4)], [(T1, 1)]]


def test_ack_fills_the_gap_below_a_batch_since_the_last_commit() -> None:
    acks = FaustAcks({T0: 5})
    _ack(acks, T0, 7, 9)  # 5 and 6: compacted, or a transaction's marker
    assert acks._acked[T0] == [5, 6, 7, 8, 9]
    _ack(acks, T0, 12, 13)
    assert acks._acked[T0] == [5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert acks._acked_index[T0] == set(range(5, 14)) and acks._n_acked == 9


def test_ack_never_goes_below_the_committed_offset_or_twice() -> None:
    acks = FaustAcks({T0: 20})
    _ack(acks, T0, 15, 19)  # read again after a seek: already committed
    assert acks._acked[T0] == []
    _ack(acks, T0, 18, 22)
    assert acks._acked[T0] == [20, 21, 22]
    fresh = FaustAcks()
    _ack(fresh, T1, 3, 4)  # nothing committed yet: from the first record handled
    assert fresh._acked[T1] == [3, 4]


class Submitter:
    """Submits whose settling the test decides, batch by batch."""

    def __init__(self) -> None:
        self.settles: list[asyncio.Future[None]] = []
        self.batches: list[Any] = []

    async def __call__(self, batch: Any, writer: Any) -> asyncio.Future[None]:
        assert writer is WRITER
        self.batches.append(batch)
        settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.settles.append(settled)
        return settled


def rig(max_in_flight: int) -> tuple[FaustAcks, Submitter, Drain]:
    """Faust's acks, the submits and a drain taking batches of 2 records."""
    submit = Submitter()
    return FaustAcks(), submit, Drain("raw", submit, batch_size=2,
                                      max_in_flight=max_in_flight, writer=WRITER)


async def _turn() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_batches_are_acked_in_order_once_all_before_them_settled() -> None:
    async def scenario() -> None:
        acks, submit, drain = rig(max_in_flight=100)
        await drain.take(acks, [fetch(T0, 0, 5)])  # three batches, all in flight
        assert len(submit.settles) == 3 and acks._acked[T0] == []
        submit.settles[1].set_result(None)  # the second first: nothing may be acked yet
        await _turn()
        assert acks._acked[T0] == []
        submit.settles[0].set_result(None)
        await _turn()
        assert acks._acked[T0] == [0, 1, 2, 3]
        settle = asyncio.ensure_future(drain.settle())
        await _turn()
        assert not settle.done(), "settle waits for the batch still in flight"
        submit.settles[2].set_result(None)
        await settle
        assert acks._acked[T0] == [0, 1, 2, 3, 4, 5]

    asyncio.run(scenario())


def test_too_much_in_flight_waits_for_the_oldest_batch() -> None:
    async def scenario() -> None:
        acks, submit, drain = rig(max_in_flight=4)
        take = asyncio.ensure_future(drain.take(acks, [fetch(T0, 0, 7)]))
        await _turn()
        assert len(submit.settles) == 2 and not take.done(), "4 records in flight: wait"
        submit.settles[0].set_result(None)
        await _turn()
        assert len(submit.settles) == 3 and acks._acked[T0] == [0, 1]
        for settled in submit.settles[1:]:
            settled.set_result(None)
        await _turn()
        submit.settles[3].set_result(None)
        await take
        await drain.settle()
        assert acks._acked[T0] == list(range(8))

    asyncio.run(scenario())


def test_a_batch_that_fails_to_settle_stops_every_later_ack() -> None:
    async def scenario() -> None:
        acks, submit, drain = rig(max_in_flight=100)
        await drain.take(acks, [fetch(T0, 0, 5)])
        submit.settles[0].set_result(None)
        submit.settles[1].set_exception(ValueError("a bug"))
        submit.settles[2].set_result(None)
        await _turn()
        assert acks._acked[T0] == [0, 1]
        with pytest.raises(RuntimeError, match="failed to settle"):
            await drain.take(acks, [fetch(T0, 6, 7)])
        assert len(submit.batches) == 3, "nothing more is taken"

    asyncio.run(scenario())


def test_a_cancelled_take_still_submits_its_whole_fetch() -> None:
    async def scenario() -> None:
        acks, submit, drain = rig(max_in_flight=2)
        take = asyncio.ensure_future(drain.take(acks, [fetch(T0, 0, 3)]))
        await _turn()
        take.cancel()  # a stopping worker cancels its fetcher
        await _turn()
        assert not take.done(), "the fetch in hand finishes first"
        submit.settles[0].set_result(None)
        await _turn()
        submit.settles[1].set_result(None)
        with pytest.raises(asyncio.CancelledError):
            await take
        await drain.settle()
        assert acks._acked[T0] == [0, 1, 2, 3]

    asyncio.run(scenario())
