"""The one retry policy: what is worth trying again, and how long to wait first.

Waits are full-jitter exponential backoff, uniform(0, min(cap, base * 2**attempt)), unless
the other side said when (`Retry-After`). `attempt` counts from 0: the wait after the first
failed attempt is at most `base`. Callers keep their own loop (sync or async, their own
sleep and bookkeeping) and ask the policy after each failure.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

RETRIABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Answers that may be different next time; every other 4xx or 5xx is final."""

MAX_RETRY_AFTER = 86_400.0
"""A parsed `Retry-After` is never longer than this (a day), whatever the header says."""

_DELTA_SECONDS = re.compile(r"\d+(\.\d+)?")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delta-seconds or an HTTP date (GMT).

    A date in the past is 0; a negative, non-numeric or zoneless value is None (unusable).
    `now` is Unix time, for tests. The result is capped at MAX_RETRY_AFTER.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP date is always GMT
            return None
        seconds = max(0.0, when.timestamp() - (time.time() if now is None else now))
    return min(seconds, MAX_RETRY_AFTER)


def retriable_status(status: int) -> bool:
    """True for 408, 425, 429, 500, 502, 503 and 504."""
    return status in RETRIABLE_STATUSES


def retriable(error: BaseException) -> bool:
    """Whether trying again may help.

    An error's own `retriable` attribute decides (this project's errors, aiokafka's);
    otherwise connection errors and timeouts (httpx's and the OS's) are retriable and
    anything else is final.
    """
    own = getattr(error, "retriable", None)
    if isinstance(own, bool):
        return own
    return isinstance(error, httpx.TransportError | ConnectionError | TimeoutError)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded (or not) retries with full-jitter backoff; `rng` is injectable for tests."""

    base: float = 0.5
    cap: float = 30.0
    max_attempts: int | None = 5
    """Attempts in all, the first included; None: no bound (use a deadline)."""
    max_retry_after: float | None = None
    """A longer `Retry-After` is shortened to this; None: `cap`."""
    give_up_on_long_retry_after: bool = False
    """Give up instead when `Retry-After` is longer than `max_retry_after`."""
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if min(self.base, self.cap, self.retry_after_limit) < 0:
            raise ValueError("a retry policy's base, cap and max_retry_after cannot be negative")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")

    @property
    def retry_after_limit(self) -> float:
        return self.cap if self.max_retry_after is None else self.max_retry_after

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt))."""
        return self.rng.uniform(0.0, min(self.cap, self.base * 2.0 ** min(attempt, 64)))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after attempt `attempt` (0 = the first) failed: `Retry-After`
        when given (at most `max_retry_after`), else the backoff."""
        if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
            return min(retry_after, self.retry_after_limit)
        return self.backoff(attempt)

    def next_delay(
        self, attempt: int, retry_after: float | None = None, *, deadline: float | None = None
    ) -> float | None:
        """The wait before trying again, or None to give up: the attempts are used up, the
        `Retry-After` is too long (with `give_up_on_long_retry_after`), or the wait would
        end after `deadline` (a time.monotonic() value)."""
        if self.max_attempts is not None and attempt + 1 >= self.max_attempts:
            return None
        if (
            self.give_up_on_long_retry_after
            and retry_after is not None
            and retry_after > self.retry_after_limit
        ):
            return None
        wait = self.delay(attempt, retry_after)
        if deadline is not None and time.monotonic() + wait > deadline:
            return None
        return wait

    def delay_for(
        self, error: BaseException, attempt: int, *, deadline: float | None = None
    ) -> float | None:
        """`next_delay` after `error`: None at once for a final error; an error's
        `retry_after` attribute (seconds), if it has one, is the `Retry-After`."""
        if not retriable(error):
            return None
        retry_after = getattr(error, "retry_after", None)
        hint = float(retry_after) if isinstance(retry_after, int | float) else None
        return self.next_delay(attempt, hint, deadline=deadline)
