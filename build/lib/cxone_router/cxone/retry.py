"""Retried CXone calls: the policy is cxone_router.retry's, the loop and its log are here."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from cxone_router.cxone.errors import CxoneApiError
from cxone_router.cxone.settings import CxoneSettings
from cxone_router.retry import RetryPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class CxoneRetry:
    """CXone calls under the project's retry policy (cxone_router.retry), logged.

    Errors say `retriable = True` to be retried; a 429 waits `Retry-After` when given, and
    one longer than the policy's `max_retry_after` is not waited for (the command fails and
    says to wait); everything else waits full-jitter backoff.
    """

    policy: RetryPolicy
    sleep: Sleep = asyncio.sleep

    @classmethod
    def for_settings(
        cls, settings: CxoneSettings, *, sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> CxoneRetry:
        policy = RetryPolicy(
            base=settings.backoff_base_seconds,
            cap=settings.backoff_cap_seconds,
            max_attempts=settings.max_retries + 1,
            max_retry_after=settings.max_retry_after_seconds,
            give_up_on_long_retry_after=True,
            rng=rng or random.Random(),
        )
        return cls(policy, sleep)

    async def run(self, operation: Callable[[], Awaitable[T]], *, what: str) -> T:
        attempt = 0
        while True:
            try:
                return await operation()
            except CxoneApiError as error:
                delay = self.policy.delay_for(error, attempt)
                if delay is None:
                    raise
                attempt += 1
                log.warning(
                    "CXone %s failed (%s: %s); retry %d of %d in %.2f s",
                    what,
                    type(error).__name__,
                    error,
                    attempt,
                    (self.policy.max_attempts or 0) - 1,
                    delay,
                )
                await self.sleep(delay)
