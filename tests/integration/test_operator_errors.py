"""An operator's mistake ends the command with one line naming what to fix and a non-zero
exit status: no traceback, no process left behind. A worker's output stays machine-readable
(JSON lines, no terminal escape codes) when it is not on a terminal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import orjson
import pytest

from cxone_router.kafka.embedded import EmbeddedBroker, free_port
from cxone_router.observability.scrape import parse
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def minimal_env(**values: str) -> dict[str, str]:
    """No CXR_* from the caller's environment: only these, and a redaction key (the default
    routes hash: a worker without one refuses to start)."""
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "TMPDIR", "XDG_STATE_HOME")}
    return {**env, "PYTHONUNBUFFERED": "1", "CXR_REDACTION_KEY": "operator-errors-test-key",
            **values}


def run_cli(args: list[str], env: Mapping[str, str], timeout: float
            ) -> tuple[int, str, str, float]:
    """Run `cxone-router ARGS` to its end (killed by pid if it outlives `timeout`)."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "cxone_router", *args], env=dict(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out.decode(), err.decode(), time.monotonic() - started


def assert_one_line(out: str, err: str) -> str:
    assert "Traceback" not in out + err, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[socket.socket]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def test_topics_with_an_unreachable_bootstrap_says_so_in_one_line() -> None:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        bootstrap = f"127.0.0.1:{sock.getsockname()[1]}"
        code, out, err, took = run_cli(["topics"], minimal_env(CXR_KAFKA_BOOTSTRAP=bootstrap),
                                       timeout=40)
    assert code != 0
    line = assert_one_line(out, err)
    assert bootstrap in line and "cannot reach" in line, line
    assert took < 20


def test_topics_with_a_bootstrap_that_never_answers_gives_up_in_bounded_time() -> None:
    with socket.socket() as sock:  # accepts connections, never answers: not Kafka
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        bootstrap = f"127.0.0.1:{sock.getsockname()[1]}"
        code, out, err, took = run_cli(["topics"], minimal_env(CXR_KAFKA_BOOTSTRAP=bootstrap),
                                       timeout=40)
    assert code != 0
    line = assert_one_line(out, err)
    assert bootstrap in line and "cannot reach" in line, line
    assert took < 25


def test_worker_with_a_busy_metrics_port_says_so_in_one_line_and_exits(
        busy_port: socket.socket) -> None:
    port = busy_port.getsockname()[1]
    # the bootstrap is never reached: the port is checked before the worker starts
    code, out, err, took = run_cli(
        ["worker"], minimal_env(CXR_KAFKA_BOOTSTRAP="127.0.0.1:1",
                                CXR_METRICS_PORT=str(port)), timeout=40)
    assert code != 0  # it exited on its own: no worker left running
    line = assert_one_line(out, err)
    assert str(port) in line and "CXR_METRICS_PORT" in line, line


@pytest.mark.parametrize("listening", [False, True], ids=["bound", "listening"])
def test_dev_with_a_busy_embedded_broker_port_says_so_in_one_line(listening: bool) -> None:
    """Bound but not listening: the broker cannot bind it either (it used to wait out its
    start-up timeout, then say only that the broker did not listen)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        if listening:
            sock.listen()
        port = sock.getsockname()[1]
        code, out, err, took = run_cli(
            ["dev"], minimal_env(CXR_EMBEDDED_BROKER_PORT=str(port), CXR_EDGE_PORT="0",
                                 CXR_METRICS_PORT="0", CXR_LOG_FORMAT="json"), timeout=60)
    assert code != 0
    line = assert_one_line(out, err)
    assert str(port) in line and "CXR_EMBEDDED_BROKER_PORT" in line, line
    assert took < 10


def assigned_partitions(metrics_url: str) -> float:
    try:
        samples = parse(httpx.get(metrics_url, timeout=2).text)
    except httpx.HTTPError:
        return 0.0
    return sum(s.value for s in samples if s.name == "cxr_worker_assigned_partitions")


def test_worker_output_is_json_lines_without_escape_codes_when_not_on_a_terminal(
        tmp_path: Path) -> None:
    """At warning level Faust runs its start-up spinner, which wrote cursor codes
    (\\x1b[?25l / \\x1b[?25h) to stdout whether or not it was a terminal."""
    with EmbeddedBroker() as broker:
        port = free_port()
        env = minimal_env(**broker.client_env(), CXR_METRICS_PORT=str(port),
                          CXR_LOG_FORMAT="json", CXR_LOG_LEVEL="warning",
                          CXR_PARTITIONS="1", CXR_DATA_DIR=str(tmp_path))
        proc = subprocess.Popen([sys.executable, "-m", "cxone_router", "worker"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}/metrics"

            def assigned() -> bool:
                assert proc.poll() is None, "the worker exited"
                return assigned_partitions(url) >= 1

            wait_until(assigned, "the worker gets a partition", timeout=20)
            time.sleep(2)  # start-up ends after the assignment (table recovery)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == 0, err
    for stream in (out, err):
        assert b"\x1b[" not in stream, stream
        for line in stream.splitlines():
            if line.strip():
                orjson.loads(line)
