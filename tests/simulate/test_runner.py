"""`run_simulation` end to end against a real HTTP edge.

Invariants: what the edge receives is exactly the seeded stream, nothing lost or invented;
the summary adds up; the rate is held; `stop` ends a continuous run after draining.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from cxone_router.simulate import Profile, run_simulation
from cxone_router.simulate.generators import Traffic

from .scripted_edge import ScriptedEdge

EPOCH = 1_780_000_000.0


async def test_the_edge_receives_exactly_the_seeded_stream(edge: ScriptedEdge) -> None:
    profile = Profile(
        rate=None, count=400, concurrency=16, seed=7, epoch=EPOCH, redeliveries=0.1, malformed=0.05
    )
    summary = await run_simulation(f"{edge.url}/ok", profile, progress=False)

    traffic = Traffic(profile, seed=7, epoch=EPOCH)
    expected = [next(traffic) for _ in range(400)]
    assert Counter(edge.bodies("/ok")) == Counter(e.body for e in expected)
    assert summary.sent == summary.accepted == 400
    assert summary.duplicates_sent == sum(e.kind == "redelivery" for e in expected)
    assert (
        summary.malformed_sent
        == summary.malformed_accepted
        == sum(e.kind == "malformed" for e in expected)
    )
    assert summary.drifted_sent == sum(e.kind == "drifted" for e in expected)
    assert (summary.rejected, summary.lost, summary.retried) == (0, 0, 0)
    assert summary.statuses == {"202": 400}
    assert summary.seed == 7 and summary.ok
    latency = summary.latency_ms
    assert latency["p50"] is not None and latency["max"] is not None
    assert 0 < latency["p50"] <= latency["max"]


async def test_content_types_follow_the_shape(edge: ScriptedEdge) -> None:
    profile = Profile(rate=None, count=200, seed=3, epoch=EPOCH, simplified=0.0)
    await run_simulation(f"{edge.url}/ok", profile, progress=False)

    by_type = Counter(content_type for _, content_type, _ in edge.received)
    assert set(by_type) == {"application/json", "application/x-www-form-urlencoded"}
    for _, content_type, body in edge.received:
        assert body.startswith(b"contactId=") == (
            content_type == "application/x-www-form-urlencoded"
        )


async def test_every_503_is_retried_and_counted(edge: ScriptedEdge) -> None:
    profile = Profile(rate=None, count=20, concurrency=20, seed=1, redeliveries=0, malformed=0)
    summary = await run_simulation(f"{edge.url}/flaky/1", profile, progress=False)

    assert (summary.accepted, summary.retried, summary.lost) == (20, 20, 0)
    assert summary.elapsed_seconds >= 1.0, "Retry-After: 1 was honoured"
    assert len(edge.bodies("/flaky/1")) == 40


async def test_the_rate_is_held(edge: ScriptedEdge) -> None:
    profile = Profile(rate=200, count=100, seed=1)
    started = time.monotonic()
    summary = await run_simulation(f"{edge.url}/ok", profile, progress=False)
    elapsed = time.monotonic() - started

    assert elapsed >= 99 / 200, "event i is not sent before i/rate"
    assert elapsed < 3.0
    assert summary.sent == 100


async def test_duration_bounds_the_events_sent(edge: ScriptedEdge) -> None:
    summary = await run_simulation(
        f"{edge.url}/ok", Profile(rate=100, duration=0.3, seed=1), progress=False
    )
    assert summary.sent == 30
    assert summary.accepted == 30


async def test_a_stall_does_not_shorten_a_paced_run(edge: ScriptedEdge) -> None:
    """The schedule is rate x duration events: a sender held up (each post takes 50 ms,
    the schedule asks for one every 20 ms) still sends every event that fell due."""
    profile = Profile(rate=50, duration=0.4, concurrency=1, seed=1, redeliveries=0,
                      malformed=0)
    summary = await run_simulation(f"{edge.url}/slow-once/0.05", profile, progress=False)
    assert summary.sent == summary.accepted == 20


async def test_a_continuous_run_stops_when_told_and_drains(edge: ScriptedEdge) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_after_25(total: int) -> None:
        if total >= 25:
            loop.call_soon_threadsafe(stop.set)

    edge.on_request = stop_after_25
    profile = Profile(rate=500, seed=1)
    assert profile.continuous
    summary = await asyncio.wait_for(
        run_simulation(f"{edge.url}/ok", profile, progress=False, stop=stop), timeout=30
    )

    assert summary.sent >= 25
    assert summary.accepted == summary.sent == len(edge.received), "in-flight events drained"


async def test_lost_events_make_the_run_not_ok(closed_port_url: str) -> None:
    profile = Profile(rate=None, count=5, max_attempts=2, backoff=0.0, max_backoff=0.0, seed=1)
    summary = await run_simulation(closed_port_url, profile, progress=False)

    assert (summary.sent, summary.lost, summary.accepted, summary.retried) == (5, 5, 0, 5)
    assert summary.statuses == {"connection-error": 5}
    assert not summary.ok


async def test_the_progress_bar_reports_on_stderr(
    edge: ScriptedEdge, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = await run_simulation(f"{edge.url}/ok", Profile(rate=None, count=30, seed=2))

    assert summary.accepted == 30
    captured = capsys.readouterr()
    assert "sent 30" in captured.err
    assert captured.out == "", "stdout stays free for --json"
