"""`run_simulation`: the one entry point `simulate`, `dev --simulate` and `bench` share.

A pacing loop hands events to `concurrency` workers through a bounded queue. Event i is due
at start + i/rate on an absolute schedule, so the rate does not drift with sleep jitter or
slow answers: if sending falls behind, it catches up as fast as the workers allow. When the
count or duration is reached, or `stop` is set, the loop stops and the run drains whatever
is in flight (retries included) before summarising.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from cxone_router.signing import Signer
from cxone_router.simulate.events import SimEvent
from cxone_router.simulate.generators import Traffic
from cxone_router.simulate.profiles import Profile
from cxone_router.simulate.progress import show_progress
from cxone_router.simulate.sender import Sender, new_clients
from cxone_router.simulate.summary import Summary, Tally

MAX_IDLE_SLEEP = 0.05
"""Longest nap of the pacing loop, so `stop` and `duration` are noticed promptly."""


async def run_simulation(
    edge_url: str,
    profile: Profile,
    *,
    progress: bool = True,
    stop: asyncio.Event | None = None,
    signer: Signer | None = None,
) -> Summary:
    """Post `profile`'s traffic to `edge_url`; continuous until `stop` if no count/duration.
    `signer` authenticates every request when the edge has CXR_EDGE_AUTH on."""
    seed = profile.seed if profile.seed is not None else random.SystemRandom().randrange(2**32)
    traffic = Traffic(
        profile, seed=seed, epoch=profile.epoch if profile.epoch is not None else time.time()
    )
    tally = Tally()
    stop = stop or asyncio.Event()
    queue: asyncio.Queue[SimEvent | None] = asyncio.Queue(maxsize=profile.concurrency)
    async with contextlib.AsyncExitStack() as clients:
        senders = [
            Sender(await clients.enter_async_context(client), edge_url, profile, tally,
                   signer=signer)
            for client in new_clients(profile)
        ]

        async def work(sender: Sender) -> None:
            while (event := await queue.get()) is not None:
                await sender.deliver(event)

        started = time.monotonic()  # after setup, so the schedule starts with the workers
        workers = [asyncio.create_task(work(sender)) for sender in senders]
        bar = asyncio.create_task(show_progress(profile, tally, started)) if progress else None
        try:
            await _pace(profile, traffic, queue, stop, started)
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            if bar is not None:
                bar.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await bar
    return tally.summary(time.monotonic() - started, seed)


async def _pace(
    profile: Profile,
    traffic: Traffic,
    queue: asyncio.Queue[SimEvent | None],
    stop: asyncio.Event,
    started: float,
) -> None:
    issued = 0
    count, duration, rate = profile.count, profile.duration, profile.rate
    while not stop.is_set():
        elapsed = time.monotonic() - started
        if rate is None:
            if duration is not None and elapsed >= duration:
                return
            due = issued + profile.concurrency
        else:
            due = int(elapsed * rate) + 1
            if duration is not None:
                # the schedule ends at `duration`: events due before it are still sent
                # when the loop falls behind (a stall must not shorten the run)
                due = min(due, int(duration * rate))
                if elapsed >= duration and issued >= due:
                    return
        if count is not None:
            due = min(due, count)
            if issued >= count:
                return
        if issued >= due:
            wait = (issued / rate if rate else 0.0) - elapsed
            await asyncio.sleep(min(max(wait, 0.0), MAX_IDLE_SLEEP))
            continue
        while issued < due and not stop.is_set():
            await queue.put(next(traffic))
            issued += 1
