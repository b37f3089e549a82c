"""Write a batch of output records and wait until the broker acknowledged every one."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.kafka.clients import BROKEN_PRODUCER_ERRORS
from pipeline.kafka.headers import Headers

if TYPE_CHECKING:
    from agents.metrics import WorkerMetrics

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers | None = None
    partition: int | None = None  # None: by key, with the producer's partitioner


class Writer:
    """Writes go straight to the app's producer: bytes in, no Faust Topic or FutureMessage
    per record; the same producer, ordering and acks, for less work per record."""

    def __init__(self, producer: Any, metrics: WorkerMetrics,
                 crash: Callable[[BaseException], Awaitable[None]]) -> None:
        self._producer = producer
        self._metrics = metrics
        self._crash = crash

    async def deliver(self, outputs: list[Output]) -> None:
        """At-least-once: what fails is sent again, in order, until the broker takes it.

        A send that fails before it is queued (the producer raises at once, as Faust does
        when the broker is away) counts as a failed write too, so nothing escapes."""
        pending = outputs
        attempt = 0
        while pending:
            queued = [await self._queue(o) for o in pending]  # in order: per-key order holds
            results = await asyncio.gather(*queued, return_exceptions=True)
            failed = [o for o, r in zip(pending, results, strict=True)
                      if isinstance(r, BaseException)]
            if not failed:
                return
            attempt += 1
            errors = [r for r in results if isinstance(r, BaseException)]
            for error_class, n in Counter(type(e).__name__ for e in errors).items():
                self._metrics.retried(error_class, n)
            first_error = errors[0]
            if broken := next((e for e in errors if isinstance(e, BROKEN_PRODUCER_ERRORS)),
                              None):
                await self._stop_worker(broken)
            log.warning("output writes failed, retrying", extra={
                "failed": len(failed), "attempt": attempt, "error": repr(first_error)})
            await asyncio.sleep(min(MAX_BACKOFF_SECONDS, 0.2 * 2**attempt))
            pending = failed

    async def _stop_worker(self, error: BaseException) -> None:
        """The producer cannot write any more, and it is the app's: stop the worker (exit
        1) for a supervisor to start it again with a new one. The batch is not acked, so
        its offsets are not committed: the next owner of the partitions processes it."""
        log.critical("worker stopping: its producer cannot write any more: %r", error)
        await self._crash(error)
        await asyncio.Event().wait()  # until the stopping worker cancels us

    async def _queue(self, o: Output) -> Any:
        """The write's delivery future, or an already failed one if it could not be queued."""
        try:
            return await self._producer.send(o.topic, o.key, o.value, o.partition, None,
                                             o.headers)
        except Exception as exc:  # noqa: BLE001 - retried by deliver, never escapes
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed
