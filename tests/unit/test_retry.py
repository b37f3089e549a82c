"""The one retry policy: Retry-After forms, full-jitter bounds, caps, bounds, classification."""

from __future__ import annotations

import random
import time
from email.utils import formatdate

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxone_router.retry import (
    MAX_RETRY_AFTER,
    RETRIABLE_STATUSES,
    RetryPolicy,
    parse_retry_after,
    retriable,
    retriable_status,
)

NOW = 1_800_000_000.0


def test_retry_after_in_delta_seconds() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("1.5") == 1.5


def test_retry_after_as_an_http_date() -> None:
    assert parse_retry_after(formatdate(NOW + 30, usegmt=True), now=NOW) == pytest.approx(30)
    assert parse_retry_after(formatdate(NOW - 30, usegmt=True), now=NOW) == 0.0
    later = parse_retry_after(formatdate(time.time() + 30, usegmt=True))  # now: the clock
    assert later is not None and 25 <= later <= 30


@pytest.mark.parametrize(
    "value",
    [None, "", "soon", "-5", "nan", "inf", "1e3", "Wed, 99 Foo 2026",
     "Wed, 21 Oct 2015 07:28:00 -0000"],  # the last has no time zone: not an HTTP date
)
def test_unusable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_is_capped() -> None:
    assert parse_retry_after("9" * 30) == MAX_RETRY_AFTER
    assert parse_retry_after(formatdate(NOW + 10 * MAX_RETRY_AFTER, usegmt=True),
                             now=NOW) == MAX_RETRY_AFTER


@given(attempt=st.integers(0, 2000), seed=st.integers(0, 2**32))
def test_backoff_is_full_jitter_and_capped(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base=0.5, cap=10.0, max_attempts=None, rng=random.Random(seed))
    assert 0.0 <= policy.delay(attempt) <= min(10.0, 0.5 * 2**min(attempt, 64))


def test_full_jitter_spans_zero_to_the_ceiling_and_is_seeded() -> None:
    policy = RetryPolicy(base=1.0, cap=4.0, rng=random.Random(7))
    delays = [policy.delay(2) for _ in range(1000)]
    assert min(delays) < 0.4 and max(delays) > 3.6  # not "half jitter": down to 0
    again = RetryPolicy(base=1.0, cap=4.0, rng=random.Random(7))
    assert [again.delay(2) for _ in range(1000)] == delays


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = RetryPolicy(base=0.1, cap=5.0)
    assert policy.delay(0, retry_after=2.0) == 2.0
    assert policy.delay(0, retry_after=0.0) == 0.0
    assert policy.delay(0, retry_after=60.0) == 5.0
    assert RetryPolicy(cap=5.0, max_retry_after=30.0).delay(0, retry_after=60.0) == 30.0
    assert policy.next_delay(0, 60.0) == 5.0


def test_a_long_retry_after_can_mean_giving_up() -> None:
    policy = RetryPolicy(max_retry_after=60.0, give_up_on_long_retry_after=True)
    assert policy.next_delay(0, 60.0) == 60.0
    assert policy.next_delay(0, 600.0) is None


def test_attempts_are_bounded_the_first_included() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.next_delay(a) is not None for a in range(4)] == [True, True, False, False]
    assert RetryPolicy(max_attempts=1).next_delay(0) is None
    assert RetryPolicy(max_attempts=None).next_delay(10_000) is not None


def test_a_deadline_stops_retries_that_would_end_after_it() -> None:
    policy = RetryPolicy(base=1.0, cap=1.0, max_attempts=None)
    assert policy.next_delay(0, 0.5, deadline=time.monotonic() + 60) == 0.5
    assert policy.next_delay(0, 0.5, deadline=time.monotonic() + 0.1) is None
    assert policy.next_delay(0, 0.5, deadline=time.monotonic() - 1) is None


@pytest.mark.parametrize("status", sorted(RETRIABLE_STATUSES))
def test_retriable_statuses(status: int) -> None:
    assert retriable_status(status)


@pytest.mark.parametrize("status", [200, 202, 301, 400, 401, 403, 404, 409, 413, 422, 501, 505])
def test_final_statuses(status: int) -> None:
    assert not retriable_status(status)


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut"),
     ConnectionRefusedError(), ConnectionResetError(), TimeoutError()],
)
def test_connection_errors_and_timeouts_are_retriable(error: BaseException) -> None:
    assert retriable(error)
    assert RetryPolicy().delay_for(error, 0) is not None


def test_an_errors_own_retriable_attribute_decides() -> None:
    class Flaky(Exception):
        retriable = True
        retry_after = 3.0

    class Refused(ConnectionError):
        retriable = False

    assert retriable(Flaky()) and not retriable(Refused()) and not retriable(ValueError())
    assert RetryPolicy().delay_for(Flaky(), 0) == 3.0, "retry_after is the error's hint"
    assert RetryPolicy().delay_for(Refused(), 0) is None
    assert RetryPolicy().delay_for(ValueError("bug"), 0) is None


def test_a_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(base=-1.0)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
