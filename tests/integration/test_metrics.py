"""What the edge and the worker export, checked against what happened, over real processes.

Invariants: every answer the edge gives is counted by handler and status (5xx, uvicorn's
own 503s and a broker that is away included); the worker counts each event once, by
channel and outcome, its dead letters by reason, fan-out records by route (as many as are
on the topics), missing fields, and observes one end-to-end latency per normalized event;
each process exports only its own families; a busy metrics port stops a worker with one
line, and port 0 picks a free one that the first log line announces.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cxone_router.kafka.embedded import free_port
from cxone_router.samples import brief
from cxone_router.stack import Stack
from tests.integration.harness import (
    Broker,
    edge_only,
    make_stack,
    post,
    read_all,
    sample,
    scrape,
    wait_caught_up,
)
from tests.waiting import wait_until, wait_until_async

pytestmark = pytest.mark.integration
CHANNELS = ("voice", "chat", "sms", "email")


async def test_the_worker_counts_each_event_once_by_channel_and_outcome(stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    sent = {c: [brief("interaction.completed", f"{run}-{c}-{i}", c) for i in range(3)]
            for c in CHANNELS}
    for events in sent.values():
        for event in events:
            assert (await post(stack, event)).status_code == 202
    for event in sent["chat"][:2]:  # redeliveries
        assert (await post(stack, event)).status_code == 202
    drifted = brief("interaction.created", f"{run}-drift", "sms", customer={})
    assert (await post(stack, drifted)).status_code == 202
    unknown = brief("interaction.created", f"{run}-pigeon", "carrier-pigeon")
    assert (await post(stack, unknown)).status_code == 202
    await wait_caught_up(stack)

    page = scrape(stack.worker_metrics["worker"])
    for channel in CHANNELS:
        expected = 3 + (channel == "sms")
        assert sample(page, "cxr_events_total", channel=channel, outcome="normalized") == expected
        assert sample(page, "cxr_end_to_end_latency_seconds_count", channel=channel) == expected
    assert sample(page, "cxr_events_total", channel="chat", outcome="duplicate") == 2
    assert sample(page, "cxr_events_total", channel="unknown", outcome="dead_lettered") == 1
    assert sample(page, "cxr_dead_letters_total", reason="unknown_channel") == 1
    assert sample(page, "cxr_missing_fields_total", channel="sms",
                 field="customer.identifier") == 1
    assert sample(page, "cxr_missing_fields_total", channel="chat",
                 field="customer.identifier") == 0  # created at zero, not missing
    total = 3 * 4 + 1 + 2 + 1
    assert sample(page, "cxr_hop_latency_seconds_count", hop="queue") == total
    assert sample(page, "cxr_hop_latency_seconds_count", hop="worker") == total
    assert sample(page, "cxr_hop_latency_seconds_bucket", hop="worker", le="+Inf") == total

    t = stack.topics
    records = await read_all(stack, [t.fanout(r) for r in t.routes])
    for route in t.routes:
        on_topic = sum(1 for r in records if r.topic == t.fanout(route))
        assert sample(page, "cxr_fanout_records_total", route=route) == on_topic > 0


async def test_every_edge_answer_is_counted_by_handler_and_status(stack: Stack) -> None:
    before = scrape(f"{stack.edge_url}/metrics")
    answers = [await post(stack, brief("interaction.created", f"e-{uuid.uuid4()}", "chat")),
               await post(stack, b"{broken"),
               await post(stack, b"x=1", "text/plain")]
    assert [a.status_code for a in answers] == [202, 400, 415]
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{stack.edge_url}/nowhere")).status_code == 404
    after = scrape(f"{stack.edge_url}/metrics")

    def grew(handler: str, status: str) -> float:
        return (sample(after, "cxr_edge_requests_total", handler=handler, status=status)
                - sample(before, "cxr_edge_requests_total", handler=handler, status=status))

    assert [grew("webhook", s) for s in ("202", "400", "415")] == [1, 1, 1]
    assert grew("other", "404") == 1
    assert sample(after, "cxr_edge_request_seconds_count", handler="webhook", status="400") == \
        sample(after, "cxr_edge_requests_total", handler="webhook", status="400")
    assert sample(after, "cxr_hop_latency_seconds_count", hop="edge") == \
        sample(after, "cxr_edge_requests_total", handler="webhook", status="202")
    assert sample(after, "cxr_edge_broker_ready") == 1


def test_each_process_exports_only_its_own_families(stack: Stack) -> None:
    edge, worker = scrape(f"{stack.edge_url}/metrics"), scrape(stack.worker_metrics["worker"])
    assert "cxr_edge_requests_total" in edge.names
    assert "cxr_events_total" in worker.names
    assert not {n for n in edge.names if n.startswith("cxr_")} & {
        n for n in worker.names if n.startswith("cxr_") and not n.startswith(
            ("cxr_build_info", "cxr_hop_latency_seconds"))}
    assert sample(edge, "cxr_build_info", role="edge", version="0.1.0") == 1
    assert sample(worker, "cxr_build_info", role="worker", version="0.1.0") == 1
    assert "process_resident_memory_bytes" in edge.names & worker.names
    assert not any(n.endswith("_created") for n in edge.names | worker.names)


async def test_the_worker_reports_its_group_and_lag_for_every_partition(stack: Stack) -> None:
    assert (await post(stack, brief("interaction.created", f"g-{uuid.uuid4()}", "sms"))
            ).status_code == 202
    await wait_caught_up(stack)
    lag: dict[str, float] = {}

    def no_lag_on_every_partition() -> Any:
        page = scrape(stack.worker_metrics["worker"])
        lag.update({s.label("partition"): s.value
                    for s in page.series("cxr_consumer_lag_records")})
        return page if len(lag) == stack.settings.partitions and not any(lag.values()) \
            else None

    page = await wait_until_async(no_lag_on_every_partition, "no lag on every partition",
                                  timeout=15, every=0.5, seen=lambda: lag)
    group = f"{stack.settings.topic_prefix}-router"
    assert sample(page, "cxr_consumer_group_members", group=group) == 1
    assert sample(page, "cxr_worker_assigned_partitions") == stack.settings.partitions
    assert sample(page, "cxr_worker_rebalances_total") >= 1
    seconds = [s.value for s in page.series("cxr_consumer_lag_seconds")]
    assert len(seconds) == stack.settings.partitions and max(seconds) == 0


@pytest.fixture
def capped_edge(broker: Broker) -> Iterator[Stack]:
    yield from edge_only(broker, CXR_EDGE_MAX_CONNECTIONS="3")


def test_uvicorns_own_503s_are_counted(capped_edge: Stack) -> None:
    host, port = capped_edge.settings.edge_host, int(capped_edge.edge_url.rsplit(":", 1)[1])
    idle = [socket.create_connection((host, port)) for _ in range(3)]  # the cap, held open
    try:
        time.sleep(0.3)
        refused = httpx.post(f"{capped_edge.edge_url}/webhooks/cxone", content=b"{}",
                             headers={"content-type": "application/json"}, timeout=5)
        assert refused.status_code == 503
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.3)
    page = scrape(f"{capped_edge.edge_url}/metrics")
    assert sample(page, "cxr_edge_requests_total", handler="webhook", status="503") == 1


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture
def edge_without_broker() -> Iterator[Stack]:
    running = make_stack(None, CXR_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")  # nothing there
    try:
        running.start_edge()
        wait_until(lambda: _answers(f"{running.edge_url}/healthz"), "the edge answers",
                   timeout=30, every=0.1)
        yield running
    finally:
        running.stop_all()


async def test_a_broker_that_is_away_shows_as_503s_publish_errors_and_not_ready(
        edge_without_broker: Stack) -> None:
    stack = edge_without_broker
    answer = await post(stack, brief("interaction.created", "nowhere", "voice"))
    assert answer.status_code == 503
    page = scrape(f"{stack.edge_url}/metrics")
    assert sample(page, "cxr_edge_requests_total", handler="webhook", status="503") == 1
    assert sample(page, "cxr_edge_publish_errors_total", error="NotConnected") == 1
    assert sample(page, "cxr_edge_broker_ready") == 0


def _worker(stack: Stack, port: int) -> subprocess.Popen[str]:
    env = stack.child_env({"CXR_METRICS_PORT": str(port), "CXR_LOG_LEVEL": "info",
                           "CXR_LOG_FORMAT": "json"})
    return subprocess.Popen([sys.executable, "-m", "cxone_router", "worker"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


def test_a_busy_metrics_port_stops_a_worker_with_one_line(stack: Stack) -> None:
    busy = int(stack.worker_metrics["worker"].rsplit(":", 1)[1].split("/")[0])
    proc = _worker(stack, busy)
    try:
        proc.wait(timeout=60)
    finally:
        _, err = _stop(proc)
    assert proc.returncode == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "already in use" in lines[0] and "CXR_METRICS_PORT" in lines[0]


def test_metrics_port_0_takes_a_free_port_and_says_which(stack: Stack) -> None:
    import orjson

    proc = _worker(stack, 0)
    try:
        assert proc.stderr is not None
        first = orjson.loads(proc.stderr.readline())
        port = first["metrics_port"]
        assert port > 0 and f":{port}/metrics" in first["msg"]
        assert "cxr_events_total" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        _stop(proc)


@pytest.fixture
def own_stack(broker: Broker) -> Iterator[Stack]:
    running = make_stack(broker)
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


async def test_a_worker_scraped_under_traffic_still_stops_gracefully(own_stack: Stack) -> None:
    """Scrapes run in another thread: one that touched the Faust table made the worker's
    stop hang until it was killed."""
    stack = own_stack
    deadline = time.monotonic() + 5
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            for channel in CHANNELS:
                event = brief("interaction.created", f"s-{uuid.uuid4().hex[:10]}", channel)
                assert (await post(stack, event)).status_code == 202
            with contextlib.suppress(httpx.HTTPError):  # until its metrics server is up
                await client.get(stack.worker_metrics["worker"])
    assert stack.stop("worker") == 0, "SIGTERM did not stop the worker: it was killed"
