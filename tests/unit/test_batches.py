"""run_batches: a stop mid-batch lets the batch finish, then acks it, however often cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agents.batches import run_batches


class TakeEventsStream:
    """The part of a Faust stream run_batches uses: `take_events` acks a batch in the
    `finally` around its `yield`, as Faust's does, then waits like a live stream."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches
        self.acked: list[int] = []
        self.drained = asyncio.Event()  # every batch yielded and acked

    async def take_events(self, size: int, within: float) -> AsyncIterator[list[int]]:
        for batch in self.batches:
            try:
                yield batch
            finally:
                self.acked.extend(batch)
        self.drained.set()
        await asyncio.Event().wait()


async def test_a_batch_cancelled_twice_still_finishes_before_it_is_acked() -> None:
    stream = TakeEventsStream([[1, 2, 3]])
    started, finished = asyncio.Event(), []
    acked_when_finished: list[int] = []

    async def handle(events: Sequence[Any]) -> None:
        started.set()
        await asyncio.sleep(0.2)  # writing outputs, then marks
        finished.extend(events)
        acked_when_finished.extend(stream.acked)

    runner = asyncio.create_task(run_batches(stream, handle, 500, 0.005))
    await started.wait()
    runner.cancel()  # the agent manager's cancel ...
    await asyncio.sleep(0.01)
    runner.cancel()  # ... and the actor's, while the batch is still writing
    try:
        await runner
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the cancellation must still end the agent")

    assert finished == [1, 2, 3]  # the batch was not cut short
    assert acked_when_finished == []  # nothing acked before its writes were done
    assert stream.acked == [1, 2, 3]  # and acked on the way out, for the stop's last commit


async def test_finished_batches_are_acked_in_order_while_running() -> None:
    stream = TakeEventsStream([[1], [2, 3], [4]])
    seen: list[list[int]] = []
    acked_at_start: list[list[int]] = []

    async def handle(events: Sequence[Any]) -> None:
        acked_at_start.append(list(stream.acked))
        seen.append(list(events))

    runner = asyncio.create_task(run_batches(stream, handle, 500, 0.005))
    await asyncio.wait_for(stream.drained.wait(), 5)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert seen == [[1], [2, 3], [4]]
    assert acked_at_start == [[], [1], [1, 2, 3]]  # each batch acked before the next starts
