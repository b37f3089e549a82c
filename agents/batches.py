"""Consume a stream in batches; a batch in progress finishes before its events are acked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

BatchHandler = Callable[[Sequence[Any]], Awaitable[None]]


async def run_batches(stream: Any, handle: BatchHandler, size: int, within: float) -> None:
    """Faust acks a `take_events` batch when the loop body ends, even on cancellation, so
    a worker stopping mid-batch first lets the batch's writes complete (no silent loss)."""
    async for events in stream.take_events(size, within=within):
        task = asyncio.ensure_future(handle(events))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await task
            raise
