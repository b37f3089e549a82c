"""A synchronous caller (as `dev --simulate` is) runs and stops a continuous simulation."""

from __future__ import annotations

import threading

from cxone_router.simulate.background import BackgroundSimulation
from cxone_router.simulate.profiles import Profile

from .scripted_edge import ScriptedEdge


def test_a_background_simulation_feeds_the_edge_until_stopped(edge: ScriptedEdge) -> None:
    twenty = threading.Event()
    edge.on_request = lambda total: twenty.set() if total >= 20 else None

    simulation = BackgroundSimulation(f"{edge.url}/ok", Profile(rate=200, seed=4)).start()
    assert twenty.wait(timeout=30), "the edge saw traffic"
    assert simulation.running, "a continuous run keeps going until stopped"
    summary = simulation.stop(timeout=30)

    assert summary is not None and not simulation.running
    assert summary.sent >= 20
    assert summary.accepted == summary.sent == len(edge.received)


def test_a_finite_simulation_ends_on_its_own(edge: ScriptedEdge) -> None:
    simulation = BackgroundSimulation(f"{edge.url}/ok", Profile(rate=None, count=15)).start()
    summary = simulation.wait(timeout=30)
    assert summary is not None and summary.accepted == 15
    assert not simulation.running
