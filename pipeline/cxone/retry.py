"""When and how long to wait before trying a CXone call again."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar

from pipeline.cxone.errors import CxoneApiError, RateLimited

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta-seconds or HTTP date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP date is always GMT
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds == float("inf"):  # NaN, inf
        return None
    return max(0.0, seconds)


@dataclass
class RetryPolicy:
    """Bounded retries for errors whose class says `retriable = True`.

    A 429 waits `Retry-After` when given (up to `max_retry_after`, beyond which waiting in a
    command makes no sense and the error is raised); everything else waits a full-jitter
    exponential backoff: uniform(0, min(cap, base * 2**attempt)).
    """

    max_retries: int = 4
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        return self.rng.uniform(0.0, min(self.cap, self.base * (2**attempt)))

    def delay_for(self, error: CxoneApiError, attempt: int) -> float | None:
        """Seconds to wait before retry number `attempt + 1`, or None to give up."""
        if not error.retriable or attempt >= self.max_retries:
            return None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        return self.backoff(attempt)

    async def run(self, operation: Callable[[], Awaitable[T]], *, what: str) -> T:
        attempt = 0
        while True:
            try:
                return await operation()
            except CxoneApiError as error:
                delay = self.delay_for(error, attempt)
                if delay is None:
                    raise
                attempt += 1
                log.warning(
                    "CXone %s failed (%s: %s); retry %d of %d in %.2f s",
                    what,
                    type(error).__name__,
                    error,
                    attempt,
                    self.max_retries,
                    delay,
                )
                await self.sleep(delay)
