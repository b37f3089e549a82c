"""Every operator command against a running `cxone-router dev`, from a second process with
no CXR_* variable set, as a user in a second shell runs them: each finds the stack by
itself (the file `dev` writes) and does its job. With its default ports taken, `dev` picks
free ones and says which; a second `dev` is refused while one runs; the file is gone once
it stops."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from cxone_router.devstack import stack_file
from cxone_router.settings import REPO_ROOT
from tests.waiting import interrupt, read_until, wait_until

pytestmark = pytest.mark.integration

DEFAULT_PORTS = (8080, 9102, 19092)  # the edge's, the worker's /metrics, the broker's


def no_cxr_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXR_")}
    return {**env, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


@contextlib.contextmanager
def taken(ports: tuple[int, ...]) -> Iterator[None]:
    """Each port held by a listening socket, unless something already holds it: taken
    either way."""
    with contextlib.ExitStack() as held:
        for port in ports:
            sock = held.enter_context(socket.socket())
            with contextlib.suppress(OSError):
                sock.bind(("127.0.0.1", port))
                sock.listen()
        yield


def cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """`cxone-router ARGS` from a folder that is not the checkout, with no CXR_* set."""
    return subprocess.run([sys.executable, "-m", "cxone_router", *args], env=no_cxr_env(),
                          capture_output=True, text=True, timeout=timeout, cwd="/")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dev` with its default ports taken; what it printed up to "Serving"."""
    env = {**no_cxr_env(), "CXR_TOPIC_PREFIX": f"found{os.getpid()}",
           "CXR_DATA_DIR": str(tmp_path_factory.mktemp("dev-data")),
           "CXR_LOG_LEVEL": "warning"}
    with taken(DEFAULT_PORTS):
        proc = subprocess.Popen([sys.executable, "-m", "cxone_router", "dev"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=REPO_ROOT, start_new_session=True)
        try:
            shown = read_until(proc, "Serving", 120)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    try:
        yield shown
        assert stack_file().exists()
        second = cli("dev", timeout=60)
        assert second.returncode != 0 and "already running" in second.stderr, second
        assert "Traceback" not in second.stderr, second.stderr
    finally:
        rest = interrupt(proc)
    assert "no process left behind" in rest, rest
    assert not stack_file().exists()  # no later command takes a dead stack for a live one


def test_dev_picks_free_ports_for_taken_defaults_and_says_which(dev: str) -> None:
    for port in DEFAULT_PORTS:
        assert re.search(rf"port {port} is taken: .* listens on \d+ instead", dev), dev
    exports = dict(re.findall(r"export (CXR_[A-Z_]+)=(\S+)", dev))
    assert exports["CXR_KAFKA_IDEMPOTENCE"] == "false", exports  # the embedded broker
    assert int(exports["CXR_EDGE_PORT"]) not in DEFAULT_PORTS, exports
    assert exports["CXR_KAFKA_BOOTSTRAP"] in dev


def test_every_command_finds_the_dev_stack_with_no_cxr_variable_set(
        dev: str, tmp_path: Path) -> None:
    prefix = f"found{os.getpid()}"
    # topics: the stack's own, under its prefix
    listed = cli("topics")
    assert listed.returncode == 0, listed.stderr
    assert f"{prefix}.interactions.voice" in listed.stdout, listed.stdout
    assert "using the running `cxone-router dev`" in listed.stderr

    # simulate: posts to the stack's edge (not :8080, which dev could not have)
    simulated = cli("simulate", "--count", "20", "--rate", "0", "--malformed", "0",
                    "--redeliveries", "0", "--seed", "7", "--json", "--no-progress")
    assert simulated.returncode == 0, simulated.stderr
    assert orjson.loads(simulated.stdout)["accepted"] == 20

    # sign --curl: a command that posts to the stack's edge; this body is dead-lettered
    body = tmp_path / "unknown-channel.json"
    body.write_text('{"eventType": "Mystery", "interactionId": "found-dlq-1", '
                    '"data": {"what": "no channel"}}')
    signed = cli("sign", str(body), "--curl")
    assert signed.returncode == 0, signed.stderr
    posted = subprocess.run(["bash", "-c", signed.stdout], capture_output=True, text=True,
                            timeout=30)
    assert " 202 " in posted.stdout.splitlines()[0], posted.stdout

    # tail: the dead letter on the stack's DLQ topic
    def dead_letter() -> dict[str, Any] | None:
        tailed = cli("tail", "dlq", "--key", "found-dlq-1", "--json")
        assert tailed.returncode == 0, tailed.stderr
        lines = [orjson.loads(line) for line in tailed.stdout.splitlines() if line.strip()]
        return lines[0] if lines else None
    letter = wait_until(dead_letter, "the dead letter reaches the DLQ", every=0.5)
    assert letter["topic"] == f"{prefix}.webhooks.dlq"

    # dlq replay: for real, back to the raw topic (idempotence off, as the broker serves)
    replayed = cli("dlq", "replay", "--key", "found-dlq-1", "--json")
    assert replayed.returncode == 0, replayed.stderr
    [sent] = orjson.loads(replayed.stdout)["replayed"]
    assert sent["from"] == f"{prefix}.webhooks.dlq:{letter['partition']}:{letter['offset']}"

    # ... and the worker dead-letters it again, one attempt more
    def second_letter() -> bool:
        tailed = cli("tail", "dlq", "--key", "found-dlq-1", "--json")
        return len([line for line in tailed.stdout.splitlines() if line.strip()]) >= 2
    wait_until(second_letter, "the replayed event is dead-lettered again", every=0.5)

    # reprocess: the simulated events again, for real, to the channel topics
    reprocessed = cli("reprocess", "--since", "10m", "--json")
    assert reprocessed.returncode == 0, reprocessed.stderr
    summary = orjson.loads(reprocessed.stdout)
    assert sum(summary["events"].values()) >= 1, summary
    assert sum(n for topic, n in summary["records"].items() if topic.startswith(prefix)) >= 1

    # status: the stack's edge and worker, wherever dev put their /metrics
    status = cli("status", "--json", "--interval", "0.5")
    assert status.returncode == 0, status.stdout + status.stderr
    figures = orjson.loads(status.stdout)
    assert figures["edge"]["up"] and all(t["up"] for t in figures["workers"]["targets"])
    assert not figures["down"]
    edge = figures["edge"]["url"]
    assert httpx.get(edge, timeout=5).status_code == 200


RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
# Words in the runbook's commands that stand for a value, and what this test puts there.
PLACEHOLDERS = {" R ": " unknown_channel ", " T ": " 1h ", "<channel>": "voice"}
# What the runbook names but an operator does not run while handling an alert against
# `dev`: each with why.
NOT_RUN = {
    "cxone-router observability generate": "regenerates the rule files (a change, not a look)",
    "cxone-router worker": "starts one more worker: it runs until stopped",
    "cxone-router webhooks list": "asks the CXone tenant (CXR_CXONE_*), not this stack",
    "cxone-router dlq replay": "named, not a command line: it has no selector",
    "cxone-router dev": "the stack these steps run against",
    "cxone-router X": "stands for any of the others, in the table of where they run",
    "cxone-router acls --role operator": "named for its role: the admin's, with a principal",
}


def runbook_commands() -> list[str]:
    """Every `cxone-router ...` and `curl ... EDGE...` the runbook gives, inline or in a
    shell block, whitespace collapsed."""
    text = RUNBOOK.read_text()
    found = [" ".join(m.split()) for m in re.findall(r"`((?:cxone-router|curl) [^`]+)`", text)]
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        found += [line.split("  #")[0].strip() for line in block.splitlines()
                  if line.startswith(("cxone-router ", "curl "))]
    return list(dict.fromkeys(found))


def test_the_runbooks_commands_run_as_written_against_dev(dev: str, tmp_path: Path) -> None:
    commands = runbook_commands()
    assert "cxone-router status" in commands and len(commands) >= 10, commands
    edge = re.search(r"export CXR_EDGE_PORT=(\d+)", dev)
    assert edge
    body = tmp_path / "body.json"
    body.write_text('{"eventType": "Mystery", "interactionId": "runbook-1"}')
    letter = orjson.loads(cli("tail", "dlq", "--json", "--limit", "1").stdout or "null")
    ran = []
    for command in commands:
        if command in NOT_RUN:
            continue
        line = f" {command} "
        for placeholder, value in PLACEHOLDERS.items():
            line = line.replace(placeholder, value)
        line = line.replace("EDGE:8080", f"127.0.0.1:{edge[1]}").replace("FILE", str(body))
        if "PARTITION:OFFSET" in line:
            assert letter is not None, "no dead letter to show: run after the commands test"
            line = line.replace("PARTITION:OFFSET", f"{letter['partition']}:{letter['offset']}")
        words = line.split()
        if words[0] == "cxone-router":
            done = cli(*words[1:])
        else:
            done = subprocess.run(words, capture_output=True, text=True, timeout=30,
                                  env=no_cxr_env())
        # replay exits 1 when a selected dead letter was not sent: here the one the test
        # above replayed already (the later one is sent)
        settled = done.returncode == 0 or (
            "dlq replay" in line and done.returncode == 1 and "replayed already" in done.stderr)
        assert settled, f"{command!r} as {line.strip()!r}: {done.returncode} {done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        ran.append(command)
    assert len(ran) >= len(commands) - len(NOT_RUN)
