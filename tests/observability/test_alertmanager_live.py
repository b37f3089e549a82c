"""Prometheus and Alertmanager run for real, with the generated rules and the compose
deployment's Alertmanager file, against a real edge whose broker is away.

What breaks: the edge has no broker (CxrEdgeNotReady, a page) and no worker is in the
group (CxrNoWorkers, a page); one worker target is down (CxrWorkerDown, a ticket) and one
is up without lag checks (CxrLagChecksStopped, a ticket). Invariant: Alertmanager's v2 API
shows every one of them received; the symptoms of "no worker" (CxrWorkerDown,
CxrWorkersBelowExpected) held back by it; the pager receiver notified of the pages and the
tickets receiver of the ticket that nothing explains, each alert in a group of its own.
The rules' `for` durations are dropped (promtool tests them): this is about routing.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cxone_router.kafka.embedded import free_port
from cxone_router.observability import rules
from cxone_router.observability.alertmanager import CONFIG_FILE, LocalAlertmanager, with_webhook
from cxone_router.observability.prometheus import LocalPrometheus
from cxone_router.observability.slo import load_slos
from cxone_router.stack import Stack
from tests.integration.harness import make_stack
from tests.waiting import wait_until

SLOS = load_slos(Path("schemas"))


class Notifications:
    """A webhook receiver: what Alertmanager posted, one JSON body per notification."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def without_for(document: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    for group in changed["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None)
    return changed


def _serves(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def edge() -> Iterator[Stack]:
    """A real edge whose broker does not exist: it serves, answers 503, reports not ready."""
    stack = make_stack(None, CXR_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    try:
        stack.start_edge()
        wait_until(lambda: _serves(f"{stack.edge_url}/metrics"), "the edge serves its metrics",
                   timeout=20, every=0.5, seen=stack.exited)
        yield stack
    finally:
        stack.stop_all()


def test_alertmanager_routes_groups_and_holds_back_what_prometheus_sends(
        edge: Stack) -> None:
    notifications = Notifications()
    # Group waits of 3 s (10 s for pages in compose): a notification goes out once an alert
    # and its inhibiting cause, sent by Prometheus one rule after the other, both arrived.
    config = with_webhook(yaml.safe_load(Path(CONFIG_FILE).read_text()), notifications.url,
                          wait="3s")
    down_worker = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    try:
        with LocalAlertmanager(config) as alertmanager, LocalPrometheus(
                SLOS, edge.edge_url, [down_worker, edge.edge_url],
                alertmanagers=[alertmanager.url],
                rules_document=without_for(rules.rules(SLOS))):
            expected = {"CxrEdgeNotReady", "CxrNoWorkers", "CxrWorkersBelowExpected",
                        "CxrWorkerDown", "CxrLagChecksStopped"}

            def received() -> dict[str, dict[str, Any]]:
                return {a["labels"]["alertname"]: a for a in alertmanager.alerts()}

            held_back = {"CxrWorkersBelowExpected", "CxrWorkerDown"}

            def states() -> dict[str, str]:
                return {n: a["status"]["state"] for n, a in received().items()}

            # inhibition is settled asynchronously: wait for it, not only for arrival
            wait_until(lambda: states() == {n: "suppressed" if n in held_back else "active"
                                            for n in expected},
                       "Alertmanager received every alert and held back the symptoms",
                       timeout=20, every=0.5, seen=states)
            got = received()
            no_workers = got["CxrNoWorkers"]["fingerprint"]
            for name in held_back:
                assert got[name]["status"]["inhibitedBy"] == [no_workers], got[name]

            def notified() -> dict[str, set[str]]:
                by_receiver: dict[str, set[str]] = {}
                for n in notifications.received:
                    names = {a["labels"]["alertname"] for a in n["alerts"]}
                    assert len(names) == 1, n  # grouped per alert
                    by_receiver.setdefault(n["receiver"], set()).update(names)
                return by_receiver

            wait_until(lambda: notified() == {
                "pager": {"CxrEdgeNotReady", "CxrNoWorkers"},
                "tickets": {"CxrLagChecksStopped"}}, "the receivers were notified",
                timeout=20, every=0.5, seen=notified)
    finally:
        notifications.close()
