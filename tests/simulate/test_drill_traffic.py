"""The drills' senders retry under cxone_router.retry's policy, against a real HTTP edge:
retriable answers until 202, final ones never, and an event still failing when the run
stops counts as unfinished."""

from __future__ import annotations

import time

import httpx

from cxone_router.drills.runner import _post_until_answered
from cxone_router.drills.traffic import Accepted, DrillTraffic

from .scripted_edge import ScriptedEdge


def _run(url: str, seconds: float = 0.3, drain: float = 10.0) -> DrillTraffic:
    traffic = DrillTraffic(url, rate=10, concurrency=4).start()
    time.sleep(seconds)
    traffic.stop(drain=drain)
    return traffic


def test_retriable_answers_are_retried_until_accepted(edge: ScriptedEdge) -> None:
    log = _run(f"{edge.url}/flaky-no-hint/2").log
    assert log.accepted and log.unfinished == 0
    assert log.statuses["503"] == 2 * len(log.accepted) == log.retries
    assert log.statuses["202"] == len(log.accepted)


def test_a_final_answer_is_not_retried(edge: ScriptedEdge) -> None:
    log = _run(f"{edge.url}/reject").log
    assert log.statuses["400"] > 0
    assert (log.retries, log.unfinished, log.accepted) == (0, 0, [])


def test_what_still_fails_when_the_run_stops_is_unfinished(closed_port_url: str) -> None:
    log = _run(closed_port_url, drain=0.5).log
    assert log.unfinished > 0 and log.accepted == []
    assert log.statuses["ConnectError"] > log.unfinished, "retried before giving up"


def test_redelivery_retries_until_answered_and_stops_at_a_final_answer(
    edge: ScriptedEdge, closed_port_url: str
) -> None:
    event = Accepted("e", b'{"webhookId":"w1","data":{"id":"i1"}}', "application/json", 0.0)
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=5) as client:
        assert _post_until_answered(client, f"{edge.url}/flaky-no-hint/2", event, deadline)
        assert not _post_until_answered(client, f"{edge.url}/reject", event, deadline)
        assert not _post_until_answered(client, closed_port_url, event, time.monotonic() + 0.5)
    assert len(edge.bodies("/flaky-no-hint/2")) == 3
    assert len(edge.bodies("/reject")) == 1
