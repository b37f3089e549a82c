"""Paced, distinct CXone events posted by concurrent senders that never give up.

A sender retries what cxone_router.retry calls retriable (429, 503, a timeout, a broken
connection...; waiting `Retry-After` when the edge gives one) until the event is answered
202 or the run is told to stop retrying; a drill must see what the pipeline does with
everything it accepted, so it keeps each accepted body and the edge's eventId. Runs in a
thread of its own, so the drill can kill and restart processes meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import orjson

from cxone_router.retry import RetryPolicy, retriable
from cxone_router.simulate.errors import answer_error
from cxone_router.simulate.generators import Traffic
from cxone_router.simulate.profiles import Profile

# Until the event is answered or the run stops retrying (a deadline), never waiting more
# than 2 s between attempts, Retry-After included: drills are short.
RETRY = RetryPolicy(base=0.1, cap=2.0, max_attempts=None)


@dataclass(frozen=True, slots=True)
class Accepted:
    event_id: str
    body: bytes
    content_type: str
    at: float  # Unix time of the 202


@dataclass
class TrafficLog:
    accepted: list[Accepted] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    unfinished: int = 0  # events still being retried when the run stopped


class DrillTraffic:
    def __init__(self, url: str, rate: float, concurrency: int = 32, seed: int = 7) -> None:
        self.url = url
        self.rate = rate
        self.concurrency = concurrency
        self.profile = Profile(rate=rate, redeliveries=0.0, malformed=0.0, seed=seed)
        self.log = TrafficLog()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_sending: asyncio.Event | None = None
        self._give_up_at = float("inf")
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-traffic", daemon=True)

    def start(self) -> DrillTraffic:
        self._thread.start()
        self._started.wait()
        return self

    def stop(self, drain: float = 60.0) -> TrafficLog:
        """Stop issuing events; retry those in flight for up to `drain` seconds."""
        self._give_up_at = time.monotonic() + drain
        if self._loop is not None and self._stop_sending is not None:
            self._loop.call_soon_threadsafe(self._stop_sending.set)
        self._thread.join(drain + 15)
        return self.log

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_sending = asyncio.Event()
        queue: asyncio.Queue[tuple[bytes, str] | None] = asyncio.Queue(self.concurrency)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(
                httpx.AsyncClient(limits=limits, timeout=10.0)) for _ in range(self.concurrency)]
            senders = [asyncio.create_task(self._send_all(c, queue)) for c in clients]
            self._started.set()
            await self._pace(queue, self._stop_sending)
            for _ in senders:
                await queue.put(None)
            await asyncio.gather(*senders)

    async def _pace(self, queue: asyncio.Queue[tuple[bytes, str] | None],
                    stop: asyncio.Event) -> None:
        events = Traffic(self.profile, seed=self.profile.seed or 0, epoch=time.time())
        started, issued = time.monotonic(), 0
        while not stop.is_set():
            due = int((time.monotonic() - started) * self.rate) + 1
            while issued < due and not stop.is_set():
                event = next(events)
                await queue.put((event.body, event.content_type))
                issued += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.01)

    async def _send_all(self, client: httpx.AsyncClient,
                        queue: asyncio.Queue[tuple[bytes, str] | None]) -> None:
        while (item := await queue.get()) is not None:
            body, content_type = item
            attempt = 0
            while (error := await self._attempt(client, body, content_type)) is not None:
                wait = RETRY.delay_for(error, attempt, deadline=self._give_up_at)
                if wait is None:  # a final answer (counted in statuses), or out of time
                    if retriable(error):
                        self.log.unfinished += 1
                    break
                self.log.retries += 1
                attempt += 1
                await asyncio.sleep(wait)

    async def _attempt(self, client: httpx.AsyncClient, body: bytes,
                       content_type: str) -> Exception | None:
        """Post once; None when the event is accepted, else what went wrong."""
        try:
            response = await client.post(self.url, content=body,
                                         headers={"content-type": content_type})
        except httpx.TransportError as exc:
            self.log.statuses[type(exc).__name__] += 1
            return exc
        self.log.statuses[str(response.status_code)] += 1
        if response.status_code != 202:
            return answer_error(response)
        event_id = orjson.loads(response.content)["eventId"]
        self.log.accepted.append(Accepted(event_id, body, content_type, time.time()))
        return None
