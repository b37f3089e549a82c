"""Write a batch of output records and wait until the broker acknowledged every one."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faust.exceptions import ProducerSendError

from pipeline.kafka.clients import BROKEN_PRODUCER_ERRORS, REFUSED_RECORD_ERRORS
from pipeline.kafka.headers import Headers
from pipeline.retry import RetryPolicy

if TYPE_CHECKING:
    from agents.metrics import WorkerMetrics

log = logging.getLogger(__name__)
# Writes the broker may take later are retried until it does, waiting at most 10 s between
RETRY = RetryPolicy(base=0.2, cap=10.0, max_attempts=None)


@dataclass(frozen=True, slots=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers | None = None
    partition: int | None = None  # None: by key, with the producer's partitioner


@dataclass(frozen=True, slots=True)
class Refused:
    """An output the broker will never take as it is, and why."""

    output: Output
    error: BaseException


class Writer:
    """Writes go straight to the app's producer: bytes in, no Faust Topic or FutureMessage
    per record; the same producer, ordering and acks, for less work per record."""

    def __init__(self, producer: Any, metrics: WorkerMetrics,
                 crash: Callable[[BaseException], Awaitable[None]]) -> None:
        self._producer = producer
        self._metrics = metrics
        self._crash = crash

    async def deliver(self, outputs: list[Output]) -> list[Refused]:
        """At-least-once: what fails is sent again, in order, until the broker takes it.

        A send that fails before it is queued (the producer raises at once, as Faust does
        when the broker is away) counts as a failed write too, so nothing escapes. A record
        refused for what it is (`REFUSED_RECORD_ERRORS`, e.g. over the size limit) would be
        refused forever: it is not retried but returned, for the caller to dead-letter."""
        pending = outputs
        refused: list[Refused] = []
        attempt = 0
        while pending:
            queued = [await self._queue(o) for o in pending]  # in order: per-key order holds
            results = await asyncio.gather(*queued, return_exceptions=True)
            failed: list[Output] = []
            errors: list[BaseException] = []
            now_refused: list[Refused] = []
            for output, result in zip(pending, results, strict=True):
                if isinstance(result, REFUSED_RECORD_ERRORS):
                    now_refused.append(Refused(output, result))
                elif isinstance(result, BaseException):
                    failed.append(output)
                    errors.append(result)
            if now_refused:
                self._note_refused(now_refused)
                refused += now_refused
            if not failed:
                return refused
            attempt += 1
            for error_class, n in Counter(type(e).__name__ for e in errors).items():
                self._metrics.retried(error_class, n)
            if broken := next((e for e in errors if isinstance(e, BROKEN_PRODUCER_ERRORS)),
                              None):
                await self.stop_worker(broken)
            log.warning("output writes failed, retrying", extra={
                "failed": len(failed), "attempt": attempt, "error": repr(errors[0])})
            await asyncio.sleep(RETRY.delay(attempt - 1))
            pending = failed
        return refused

    def _note_refused(self, refused: list[Refused]) -> None:
        for (topic, error_class), n in Counter(
                (r.output.topic, type(r.error).__name__) for r in refused).items():
            self._metrics.refused(topic, error_class, n)
        first = refused[0]
        log.error("the broker refused output records for good, not retrying them", extra={
            "refused": len(refused), "topic": first.output.topic,
            "bytes": len(first.output.value), "error": repr(first.error)})

    async def stop_worker(self, error: BaseException,
                          why: str = "its producer cannot write any more") -> None:
        """Stop the worker (exit 1) when it cannot go on: e.g. its producer is broken (a
        supervisor starts it again with a new one). The batch is not acked, so its offsets
        are not committed: the next owner of the partitions processes it."""
        log.critical("worker stopping: %s: %r", why, error)
        await self._crash(error)
        await asyncio.Event().wait()  # until the stopping worker cancels us

    async def _queue(self, o: Output) -> Any:
        """The write's delivery future, or an already failed one if it could not be queued."""
        try:
            return await self._producer.send(o.topic, o.key, o.value, o.partition, None,
                                             o.headers)
        except Exception as exc:  # noqa: BLE001 - retried by deliver, never escapes
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            # Faust wraps the client's error (e.g. a record over max_request_size): unwrap,
            # so that it is classified like the same error from the broker
            cause = exc.__cause__ if isinstance(exc, ProducerSendError) else None
            failed.set_exception(cause if isinstance(cause, Exception) else exc)
            return failed
