"""`cxone-router dev --prometheus` as a user runs it: it says where every /metrics is, its
Prometheus scrapes the edge and the worker with the generated rules loaded, and Ctrl-C
stops everything it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from cxone_router.kafka.embedded import free_port
from cxone_router.observability import rules
from cxone_router.observability.slo import load_slos
from cxone_router.samples import brief
from cxone_router.settings import REPO_ROOT
from tests.waiting import interrupt, read_until, wait_until

pytestmark = pytest.mark.integration


def _dev(*args: str, **env: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CXR_EDGE_PORT": str(free_port()), "CXR_METRICS_PORT": "0",
           "CXR_TOPIC_PREFIX": f"dev{os.getpid()}", "CXR_LOG_LEVEL": "warning",
           "COLUMNS": "200", **env}
    return subprocess.Popen([sys.executable, "-m", "cxone_router", "dev", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO_ROOT, start_new_session=True)



def test_dev_with_prometheus_scrapes_everything_and_stops_cleanly() -> None:
    proc = _dev("--prometheus", CXR_EMBEDDED_BROKER_PORT="0",
                CXR_METRICS_PORT=str(free_port()))
    prometheus = None
    try:
        shown = read_until(proc, "Serving", 120)
        metrics = re.findall(r"http://[\d.:]+/metrics", shown)
        assert len(metrics) == 2, shown  # the edge's and the worker's
        prometheus = re.search(r"prometheus: (http://[\d.:]+)", shown)
        assert prometheus, shown
        url = prometheus[1]
        def up_jobs() -> set[str]:
            up = httpx.get(f"{url}/api/v1/query", params={"query": "up == 1"}).json()
            return {r["metric"]["job"] for r in up["data"]["result"]}

        wait_until(lambda: up_jobs() == {"cxr-edge", "cxr-worker"},
                   "Prometheus scrapes the edge and the worker", timeout=30, every=1,
                   seen=up_jobs)
        loaded = httpx.get(f"{url}/api/v1/rules").json()["data"]["groups"]
        expected = rules.rules(load_slos(REPO_ROOT / "schemas"))["groups"]
        assert sorted(g["name"] for g in loaded) == sorted(g["name"] for g in expected)
    finally:
        rest = interrupt(proc)
    assert proc.returncode == 0, rest
    assert "no process left behind" in rest
    if prometheus:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{prometheus[1]}/-/ready", timeout=2)


def test_dev_on_apache_kafka_runs_the_demo_and_leaves_no_broker_behind() -> None:
    proc = _dev("--broker", "apache", "--demo")
    try:
        shown = read_until(proc, "Serving", 180)
        assert "Apache Kafka 4.1.1, 1 node" in shown, shown
        assert "cxone.interactions.voice" in shown.replace(f"dev{os.getpid()}", "cxone"), shown
        assert "2. What arrived on the topics" in shown, shown
        folder = re.search(r"logs in (\S+)", shown)
        assert folder, shown
    finally:
        rest = interrupt(proc, timeout=90)
    assert proc.returncode == 0, rest
    assert "no process left behind" in rest
    assert not os.path.exists(folder[1])  # its data and logs went with it
    java = subprocess.run(["pgrep", "-f", f"{folder[1]}/"], capture_output=True, text=True)
    assert java.stdout == "", "a Kafka node outlived dev"


def test_dev_on_apache_kafka_without_java_says_what_is_missing_in_one_line() -> None:
    proc = _dev("--broker", "apache", PATH=os.path.dirname(sys.executable))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not on the PATH: java" in errors[0], out
    assert "Traceback" not in out


def test_dev_restarts_a_worker_that_dies_and_it_processes_again() -> None:
    """dev supervises its workers: one that exits (an unrecoverable error, or killed) is
    started again on the same /metrics port, and events flow through it."""
    proc = _dev(CXR_EMBEDDED_BROKER_PORT="0", CXR_METRICS_PORT=str(free_port()))
    try:
        shown = read_until(proc, "Serving", 120)
        metrics = re.findall(r"http://[\d.:]+/metrics", shown)[1]  # the worker's
        edge = re.search(r"edge:\s+(http://\S+)", shown)
        assert edge, shown
        worker = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "cxone_router worker"],
                                capture_output=True, text=True).stdout.split()
        assert len(worker) == 1, worker
        os.kill(int(worker[0]), signal.SIGKILL)
        read_until(proc, "worker exited (code -9); restarting it", 30)
        def processes_an_event() -> bool:
            answer = httpx.post(edge[1], json=brief("interaction.created",
                                                    f"restart-{time.monotonic_ns()}", "chat"))
            assert answer.status_code == 202, answer.text
            try:
                page = httpx.get(metrics, timeout=2).text
            except httpx.HTTPError:
                page = ""
            return bool(re.search(
                r'cxr_events_total\{channel="chat",outcome="normalized"\} [1-9]', page))

        # back on its port, and it processes what the edge accepts
        wait_until(processes_an_event, "the restarted worker processes events", every=1)
    finally:
        rest = interrupt(proc)
    assert proc.returncode == 0, rest


def test_dev_refuses_a_broker_port_another_stack_serves() -> None:
    """It used to attach to whatever listened there: another stack's broker and group."""
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        proc = _dev(CXR_EMBEDDED_BROKER_PORT=str(port))
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"port {port} is in use" in errors[0], out
    assert "Traceback" not in out
