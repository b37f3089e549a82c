"""A real sender's delivery rules, against a real HTTP edge on loopback.

Invariants: a 503 or a timeout is retried and the event ends accepted; `Retry-After` sets
the wait; a 4xx is final after one attempt; attempts are bounded and an event that runs out
of them is counted lost, never accepted.
"""

from __future__ import annotations

import random
import time

import httpx
import pytest

from cxone_router.simulate.errors import (
    EdgeRejected,
    EdgeUnavailable,
    UnexpectedAnswer,
    answer_error,
)
from cxone_router.simulate.events import JSON_CONTENT_TYPE, Kind, SimEvent
from cxone_router.simulate.profiles import Profile
from cxone_router.simulate.sender import Sender
from cxone_router.simulate.summary import Tally

from .scripted_edge import ScriptedEdge


def _event(
    body: bytes = b'{"webhookId":"w1","data":{"id":"i1"}}', kind: Kind = "original"
) -> SimEvent:
    return SimEvent(
        body=body,
        content_type=JSON_CONTENT_TYPE,
        interaction_id="i1",
        channel="chat",
        shape="simplified",
        kind=kind,
        stage="created",
        event_type="interaction.created",
    )


class RecordingSleep:
    """Stands in for asyncio.sleep: remembers each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def _deliver(url: str, event: SimEvent, profile: Profile) -> tuple[Tally, RecordingSleep]:
    tally, sleep = Tally(), RecordingSleep()
    async with httpx.AsyncClient(timeout=profile.timeout) as client:
        sender = Sender(client, url, profile, tally, sleep=sleep, jitter=random.Random(3))
        await sender.deliver(event)
    return tally, sleep


async def test_503_is_retried_after_retry_after_until_accepted(edge: ScriptedEdge) -> None:
    event = _event()
    tally, sleep = await _deliver(f"{edge.url}/flaky/2", event, Profile())

    assert sleep.waits == [1.0, 1.0], "each retry waits exactly the edge's Retry-After"
    assert (tally.sent, tally.accepted, tally.retried, tally.lost) == (1, 1, 2, 0)
    assert edge.bodies("/flaky/2") == [event.body] * 3, "every attempt re-sends the same bytes"
    assert tally.latency.count == 1


async def test_retry_after_is_really_waited_for(edge: ScriptedEdge) -> None:
    tally = Tally()
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        await Sender(client, f"{edge.url}/flaky/1", Profile(), tally).deliver(_event())
    assert time.monotonic() - started >= 1.0
    assert (tally.accepted, tally.retried) == (1, 1)


async def test_without_retry_after_backoff_doubles_with_full_jitter(edge: ScriptedEdge) -> None:
    profile = Profile(backoff=0.1, max_backoff=0.3, max_attempts=5)
    tally, sleep = await _deliver(f"{edge.url}/flaky-no-hint/3", _event(), profile)

    assert tally.accepted == 1 and tally.retried == 3
    ceilings = [0.1, 0.2, 0.3]  # 0.4 is capped at max_backoff
    assert len(sleep.waits) == 3
    for wait, ceiling in zip(sleep.waits, ceilings, strict=True):
        assert 0 <= wait <= ceiling


@pytest.mark.parametrize("kind", ["original", "malformed"])
async def test_4xx_is_final_after_one_attempt(edge: ScriptedEdge, kind: Kind) -> None:
    tally, sleep = await _deliver(f"{edge.url}/reject", _event(kind=kind), Profile())

    assert edge.bodies("/reject") == [_event().body], "a 4xx is never retried"
    assert sleep.waits == []
    assert (tally.rejected, tally.retried, tally.accepted, tally.lost) == (1, 0, 0, 0)
    assert tally.statuses == {"400": 1}
    deliberate = kind == "malformed"
    assert tally.unexpected_rejections == (0 if deliberate else 1)
    assert tally.summary(1.0, seed=0).ok is deliberate


async def test_attempts_are_bounded_and_the_event_counted_lost(edge: ScriptedEdge) -> None:
    tally, sleep = await _deliver(f"{edge.url}/flaky/10", _event(), Profile(max_attempts=3))

    assert len(edge.bodies("/flaky/10")) == 3
    assert (tally.lost, tally.accepted, tally.retried) == (1, 0, 2)
    assert tally.statuses == {"503": 1}
    assert not tally.summary(1.0, seed=0).ok


async def test_a_timeout_is_retried(edge: ScriptedEdge) -> None:
    tally, sleep = await _deliver(f"{edge.url}/slow-once/1.0", _event(), Profile(timeout=0.2))

    assert (tally.accepted, tally.retried, tally.lost) == (1, 1, 0)
    assert len(edge.bodies("/slow-once/1.0")) == 2


async def test_refused_connections_are_retried_then_lost(closed_port_url: str) -> None:
    tally, sleep = await _deliver(closed_port_url, _event(), Profile(max_attempts=4))

    assert (tally.lost, tally.retried, tally.accepted) == (1, 3, 0)
    assert tally.statuses == {"connection-error": 1}
    assert len(sleep.waits) == 3


async def test_a_long_retry_after_is_capped(edge: ScriptedEdge) -> None:
    tally, sleep = await _deliver(f"{edge.url}/flaky/1", _event(), Profile(max_retry_after=0.5))
    assert sleep.waits == [0.5]
    assert tally.accepted == 1


def test_answers_are_classified_by_the_retry_policy() -> None:
    timeout = answer_error(httpx.Response(408, headers={"retry-after": "2"}))
    assert isinstance(timeout, EdgeUnavailable) and timeout.retriable
    assert timeout.retry_after == 2.0
    assert isinstance(answer_error(httpx.Response(425)), EdgeUnavailable)
    assert isinstance(answer_error(httpx.Response(413)), EdgeRejected)
    not_implemented = answer_error(httpx.Response(501))
    assert isinstance(not_implemented, EdgeRejected) and not not_implemented.retriable
    assert isinstance(answer_error(httpx.Response(302)), UnexpectedAnswer)
