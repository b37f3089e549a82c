"""Retry policy: reads `retriable`, honours Retry-After, full-jitter capped backoff, bounded."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.cxone.errors import (
    AuthError,
    CxoneApiError,
    RateLimited,
    ScopeError,
    ServerError,
    Unreachable,
)
from pipeline.cxone.retry import RetryPolicy, parse_retry_after
from tests.cxone.helpers import RecordingSleep

NOW = 1_800_000_000.0


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-5") == 0.0


def test_retry_after_as_an_http_date() -> None:
    assert parse_retry_after(formatdate(NOW + 30, usegmt=True), now=NOW) == pytest.approx(30)
    assert parse_retry_after(formatdate(NOW - 30, usegmt=True), now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf", "Wed, 99 Foo 2026"])
def test_unusable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_retriable_is_a_class_attribute_the_policy_reads() -> None:
    assert [kind.retriable for kind in (RateLimited, ServerError, Unreachable)] == [True] * 3
    assert [kind.retriable for kind in (AuthError, ScopeError, CxoneApiError)] == [False] * 3

    class Flaky(CxoneApiError):
        retriable = True

    policy = RetryPolicy(max_retries=3)
    assert policy.delay_for(Flaky("x"), 0) is not None
    assert policy.delay_for(AuthError("x"), 0) is None


def test_retry_after_is_used_as_is_and_too_long_a_wait_gives_up() -> None:
    policy = RetryPolicy(max_retries=3, max_retry_after=60)
    assert policy.delay_for(RateLimited("x", retry_after=2.0), 0) == 2.0
    assert policy.delay_for(RateLimited("x", retry_after=600.0), 0) is None


@given(attempt=st.integers(0, 30), seed=st.integers(0, 2**32))
def test_backoff_is_full_jitter_and_capped(attempt: int, seed: int) -> None:
    policy = RetryPolicy(max_retries=50, base=0.5, cap=10.0, rng=random.Random(seed))
    delay = policy.delay_for(RateLimited("429 without Retry-After"), attempt)
    assert delay is not None
    assert 0.0 <= delay <= min(10.0, 0.5 * 2**attempt)


async def test_retries_are_bounded_and_the_last_error_surfaces() -> None:
    sleep = RecordingSleep()
    policy = RetryPolicy(max_retries=3, sleep=sleep)
    calls = 0

    async def always_failing() -> None:
        nonlocal calls
        calls += 1
        raise ServerError("boom", status=503)

    with pytest.raises(ServerError):
        await policy.run(always_failing, what="test")
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
        await RetryPolicy(max_retries=5, sleep=sleep).run(refused, what="test")
    assert (calls, sleep.delays) == (1, [])
