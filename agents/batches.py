"""Consume a stream in batches; a batch in progress finishes before its events are acked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

BatchHandler = Callable[[Sequence[Any]], Awaitable[None]]


async def run_batches(stream: Any, handle: BatchHandler, size: int, within: float) -> None:
    """Hand `take_events` batches to `handle`, one at a time.

    A worker that stops mid-batch lets the batch finish first: its outputs and dedup marks
    are written together or not at all. Faust cancels an agent more than once while
    stopping (the agent manager, then the actor), and mode cancels every task left a second
    after that with the producer already closed: a batch cut there would leave outputs
    without their marks, to be written again after a restart. Closing the generator on the
    way out acks the finished batch now, so the stop's last commit includes it."""
    async with contextlib.aclosing(stream.take_events(size, within=within)) as batches:
        async for events in batches:
            task = asyncio.ensure_future(handle(events))
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                await _finish(task)
                raise


async def _finish(task: asyncio.Future[None]) -> None:
    """Wait for `task` however many times the waiter is cancelled meanwhile."""
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
