"""CXone calls under the retry policy (tests/unit/test_retry.py has the policy itself):
reads `retriable`, honours Retry-After and gives up on too long a one, bounded."""

from __future__ import annotations

import random

import pytest

from cxone_router.cxone.errors import (
    AuthError,
    CxoneApiError,
    RateLimited,
    ScopeError,
    ServerError,
    Unreachable,
)
from cxone_router.cxone.retry import CxoneRetry
from tests.cxone.helpers import RecordingSleep, fast_settings


def _retry(sleep: RecordingSleep | None = None, **settings: float) -> CxoneRetry:
    """The client's retry, from settings as CXR_CXONE_* would give them."""
    return CxoneRetry.for_settings(fast_settings("http://127.0.0.1:9", **settings),
                                   sleep=sleep or RecordingSleep(), rng=random.Random(1))


def test_retriable_is_a_class_attribute_the_policy_reads() -> None:
    assert [kind.retriable for kind in (RateLimited, ServerError, Unreachable)] == [True] * 3
    assert [kind.retriable for kind in (AuthError, ScopeError, CxoneApiError)] == [False] * 3

    class Flaky(CxoneApiError):
        retriable = True

    policy = _retry(max_retries=3).policy
    assert policy.delay_for(Flaky("x"), 0) is not None
    assert policy.delay_for(AuthError("x"), 0) is None


def test_retry_after_is_used_as_is_and_too_long_a_wait_gives_up() -> None:
    policy = _retry(max_retries=3, max_retry_after_seconds=60).policy
    assert policy.delay_for(RateLimited("x", retry_after=2.0), 0) == 2.0
    assert policy.delay_for(RateLimited("x", retry_after=600.0), 0) is None


def test_settings_map_onto_the_policy() -> None:
    policy = _retry(max_retries=3, backoff_base_seconds=0.5, backoff_cap_seconds=10.0).policy
    assert (policy.base, policy.cap, policy.max_attempts) == (0.5, 10.0, 4)
    delay = policy.delay_for(RateLimited("429 without Retry-After"), 2)
    assert delay is not None and 0.0 <= delay <= 2.0


async def test_retries_are_bounded_and_the_last_error_surfaces() -> None:
    sleep = RecordingSleep()
    retry = _retry(sleep, max_retries=3)
    calls = 0

    async def always_failing() -> None:
        nonlocal calls
        calls += 1
        raise ServerError("boom", status=503)

    with pytest.raises(ServerError):
        await retry.run(always_failing, what="test")
    assert calls == 4
    assert len(sleep.delays) == 3


async def test_a_non_retriable_error_is_raised_at_once() -> None:
    sleep = RecordingSleep()
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise ScopeError("webhooks:write")

    with pytest.raises(ScopeError):
        await _retry(sleep, max_retries=5).run(refused, what="test")
    assert (calls, sleep.delays) == (1, [])
