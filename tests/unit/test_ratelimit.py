"""The client-side token bucket holds its configured rate and burst."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxone_router.ratelimit import TokenBucket
from tests.cxone.helpers import FakeClock


def test_burst_passes_then_one_slot_per_interval() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    delays = [bucket.reserve() for _ in range(6)]
    assert delays[:3] == [0, 0, 0]
    assert delays[3:] == pytest.approx([0.1, 0.2, 0.3])


def test_idle_time_refills_up_to_burst_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    for _ in range(3):
        bucket.reserve()
    clock.advance(3600)
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


@given(
    rate=st.floats(0.5, 500),
    burst=st.integers(1, 50),
    calls=st.integers(1, 300),
    gaps=st.lists(st.floats(0, 0.5), min_size=300, max_size=300),
)
def test_no_window_admits_more_than_burst_plus_rate_times_its_length(
    rate: float, burst: int, calls: int, gaps: list[float]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=rate, burst=burst, clock=clock)
    starts = []
    for gap in gaps[:calls]:
        clock.advance(gap)
        starts.append(clock.now + bucket.reserve())
    first = starts[0]
    for index, start in enumerate(starts):
        assert index + 1 <= burst + (start - first) * rate + 1e-6


def test_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)


async def test_real_time_rate_is_held() -> None:
    bucket = TokenBucket(rate=50, burst=5)
    started = time.monotonic()
    await asyncio.gather(*(bucket.acquire() for _ in range(30)))
    # 25 calls beyond the burst need at least 25 / 50 s; only a lower bound cannot flake
    assert time.monotonic() - started >= 25 / 50 * 0.98


def test_try_take_sheds_load_without_going_into_debt() -> None:
    now = [0.0]
    bucket = TokenBucket(10, 5, clock=lambda: now[0])
    assert [bucket.try_take() for _ in range(7)] == [True] * 5 + [False] * 2
    now[0] = 0.1  # one token refilled, not the two refused ones owed
    assert [bucket.try_take() for _ in range(2)] == [True, False]
