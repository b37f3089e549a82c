"""`cxone-router status` against a real stack: broker, worker and edge processes.

Percentiles and rates are windowed (between the command's two scrapes), so webhooks keep
arriving while it runs; the command itself is a subprocess, as an operator runs it.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
import uuid
from collections.abc import Callable

import httpx
import orjson
import pytest

from cxone_router.kafka.embedded import free_port
from cxone_router.samples import brief
from cxone_router.settings import REPO_ROOT
from cxone_router.stack import Stack
from tests.integration.harness import post, scrape
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.integration,
    # the status command reads /metrics pages: the same on any broker (the suite's time
    # goes to what differs between brokers)
    pytest.mark.parametrize("broker", ["embedded"], indirect=True),
]
CHANNELS = ("voice", "chat", "sms", "email")
MALFORMED = b"{not json"


def total(url: str, name: str, **match: str) -> float:
    return scrape(url).value(name, **match) or 0.0


def served(condition: Callable[[], bool]) -> Callable[[], bool]:
    """`condition`, false while the worker does not serve /metrics yet (a moment after
    it starts)."""
    def holds() -> bool:
        try:
            return condition()
        except httpx.HTTPError:
            return False
    return holds


def command(stack: Stack, *args: str, workers: list[str] | None = None) -> list[str]:
    worker_args = [a for url in (workers or list(stack.worker_metrics.values()))
                   for a in ("--worker", url)]
    return [sys.executable, "-m", "cxone_router", "status", "--edge", f"{stack.edge_url}/metrics",
            *worker_args, *args]


async def run_with_traffic(stack: Stack, args: list[str]) -> tuple[int, str, str]:
    """Run the command while webhooks of every channel keep arriving (and a chat event is
    redelivered each round), so its window holds events; return (code, stdout, stderr)."""
    env = {**os.environ, "COLUMNS": "140"}
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT, env=env)
    done = asyncio.ensure_future(proc.communicate())
    deadline = time.monotonic() + 60
    while not done.done() and time.monotonic() < deadline:
        for channel in CHANNELS:
            body = brief("interaction.created", f"st-{uuid.uuid4().hex[:10]}", channel)
            assert (await post(stack, body)).status_code == 202
            if channel == "chat":
                assert (await post(stack, body)).status_code == 202  # a redelivery
        await asyncio.sleep(0.05)
    out, err = await asyncio.wait_for(done, 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture(scope="module")
def processed(stack: Stack) -> Stack:
    """One webhook per channel through the edge, one malformed body refused by the edge
    and one written to the raw topic behind its back (the worker dead-letters it)."""
    worker = stack.worker_metrics["worker"]

    async def feed() -> None:
        for channel in CHANNELS:
            body = brief("interaction.created", f"first-{uuid.uuid4().hex[:10]}", channel)
            assert (await post(stack, body)).status_code == 202
        assert (await post(stack, MALFORMED)).status_code == 400
        producer = stack.kafka.producer(acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(stack.topics.raw, MALFORMED, key=b"garbage",
                                         headers=[("content-type", b"application/json")])
        finally:
            await producer.stop()

    asyncio.run(feed())
    wait_until(served(lambda: total(worker, "cxr_events_total") >= len(CHANNELS) + 1),
               "the worker processes the webhooks")
    wait_until(served(lambda: total(worker, "cxr_consumer_group_members") >= 1),
               "the worker's first lag check")
    return stack


async def test_json_figures_from_a_live_stack(processed: Stack) -> None:
    stack = processed
    # 3 s between the scrapes: on a loaded machine (both halves of make test at once) a
    # 1 s window once held no normalized event of a channel, and so no p99
    code, out, err = await run_with_traffic(stack, command(stack, "--json", "--interval", "3"))
    assert code == 0, err
    assert "Traceback" not in err
    data = orjson.loads(out)

    assert data["edge"]["up"] is True
    assert [t["up"] for t in data["workers"]["targets"]] == [True]
    assert data["down"] == []
    assert 3 <= data["window_seconds"] < 10  # the interval, and two scrapes

    intake = data["intake"]
    assert intake["broker_ready"] is True
    assert intake["accepted_per_second"] > 0
    assert intake["answers"]["202"]["total"] >= len(CHANNELS)
    assert intake["answers"]["400"]["total"] == 1  # the malformed body the edge refused
    assert intake["answers"]["400"]["per_second"] == 0

    latency_slo = data["slo"]["latency_seconds"]
    assert latency_slo == 1 and data["slo"]["freshness_seconds"] == 30
    assert set(CHANNELS) <= set(data["channels"])
    for name in CHANNELS:
        channel = data["channels"][name]
        assert channel["p99_seconds"] is not None, name
        assert 0 < channel["p50_seconds"] <= channel["p99_seconds"], name
        assert channel["latency_ok"] is (channel["p99_seconds"] <= latency_slo)
        assert channel["normalized_total"] >= 1
        assert channel["normalized_per_second"] > 0
        assert channel["events_in_window"] >= 1
    assert data["channels"]["chat"]["duplicates_per_second"] > 0
    assert data["channels"]["voice"]["duplicates_per_second"] == 0

    assert data["dead_letters"]["invalid_json"] == {"total": 1, "per_second": 0}
    assert data["dead_letters"]["unknown_channel"]["total"] == 0

    assert data["workers"]["members"] >= 1
    assert data["workers"]["targets"][0]["assigned_partitions"] == stack.settings.partitions
    assert data["lag"]["seconds"] is not None and data["lag"]["records"] is not None
    assert data["lag"]["ok"] is (data["lag"]["seconds"] <= 30)

    # drift: exactly the channel/field pairs the worker counts as missing
    worker = stack.worker_metrics["worker"]
    missing = {(s.label("channel"), s.label("field"))
               for s in scrape(worker).series("cxr_missing_fields_total") if s.value > 0}
    reported = {(d["channel"], d["field"]) for d in data["drift"]["fields"]}
    assert reported == missing
    assert data["drift"]["pairs"] == len(missing)


async def test_screen_names_each_channel(processed: Stack) -> None:
    stack = processed
    code, out, err = await run_with_traffic(stack, command(stack, "--interval", "1"))
    assert code == 0, err
    assert "Traceback" not in err
    for name in CHANNELS:  # a row of the channels table: name, then events/s
        assert re.search(rf"^\s*{name}\s+[\d.,]+/s\s", out, re.MULTILINE), (name, out)
    assert "invalid_json" in out
    assert "DOWN" not in out
    assert stack.edge_url in out


def test_a_worker_on_a_closed_port_is_down(processed: Stack) -> None:
    import subprocess

    stack = processed
    closed = f"http://127.0.0.1:{free_port()}/metrics"
    env = {**os.environ, "COLUMNS": "160"}

    result = subprocess.run(command(stack, "--json", "--interval", "0.2", workers=[closed]),
                            capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    data = orjson.loads(result.stdout)
    assert data["down"] == [closed]
    assert data["edge"]["up"] is True
    assert data["workers"]["targets"] == [{"url": closed, "up": False, "error": "cannot connect",
                                           "version": None, "assigned_partitions": None}]

    result = subprocess.run(command(stack, "--interval", "0.2", workers=[closed]),
                            capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert re.search(r"worker\s+" + re.escape(closed) + r"\s+DOWN: cannot connect",
                     result.stdout), result.stdout
