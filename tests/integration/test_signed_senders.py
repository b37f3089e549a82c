"""Our own senders against an edge with CXR_EDGE_AUTH=hmac: `simulate`, the benchmark's load
generator, the demo and the curl line `sign --curl` prints all get 202, and what they sent
is on the raw topic; the demo given a wrong secret reports the 401s instead of arrivals."""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from cxone_router.bench import phases
from cxone_router.bench.traffic import webhooks
from cxone_router.demo import run_demo
from cxone_router.kafka.embedded import free_port
from cxone_router.samples import brief
from cxone_router.settings import REPO_ROOT, load_settings
from cxone_router.signing import Signer, signer_for
from cxone_router.simulate.generators import Traffic
from cxone_router.simulate.profiles import Profile
from cxone_router.simulate.runner import run_simulation
from cxone_router.stack import Stack
from tests.integration.harness import make_stack, read
from tests.waiting import interrupt, read_until

pytestmark = pytest.mark.integration
SECRETS = "senders-secret-1,senders-secret-2"
AUTH = {"CXR_EDGE_AUTH": "hmac", "CXR_EDGE_HMAC_SECRETS": SECRETS}


@pytest.fixture(scope="module")
def signed() -> Iterator[Stack]:
    """Edge (hmac) and worker, on an embedded broker of their own: signing is the senders'
    and the edge's business, the same on any broker (the suite's time goes elsewhere)."""
    stack = make_stack(None, **AUTH)
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


def cli_env(stack: Stack) -> dict[str, str]:
    """The environment a user of this stack's edge runs our commands in."""
    return {**os.environ, **stack.env, "CXR_LOG_LEVEL": "warning"}


async def on_raw(stack: Stack, bodies: list[bytes], timeout: float = 30) -> set[bytes]:
    wanted = set(bodies)
    records = await read(stack, [stack.topics.raw],
                         lambda rs: wanted <= {r.value for r in rs}, timeout)
    return wanted & {r.value for r in records}


async def test_simulation_signs_every_event_and_each_is_on_the_raw_topic(
        signed: Stack) -> None:
    epoch = time.time()
    profile = Profile(rate=None, count=60, concurrency=8, redeliveries=0.0, malformed=0.0,
                      seed=41, epoch=epoch)
    summary = await run_simulation(f"{signed.edge_url}/webhooks/cxone", profile,
                                   progress=False, signer=signer_for(signed.settings))
    assert summary.statuses == {"202": 60} and summary.accepted == 60, summary.to_text()
    sent = [e.body for e in itertools.islice(Traffic(profile, seed=41, epoch=epoch), 60)]
    assert await on_raw(signed, sent) == set(sent)


def test_simulate_command_signs_with_the_edges_settings(signed: Stack) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cxone_router", "simulate", "--url",
         f"{signed.edge_url}/webhooks/cxone", "--count", "30", "--rate", "0",
         "--malformed", "0", "--json", "--no-progress"],
        env=cli_env(signed), capture_output=True, cwd=REPO_ROOT, timeout=60)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    summary = orjson.loads(done.stdout)
    assert summary["statuses"] == {"202": 30} and summary["accepted"] == 30, summary


async def test_bench_load_generator_and_warm_up_sign_their_requests(signed: Stack) -> None:
    bodies = webhooks(40, seed=77)
    result = await asyncio.to_thread(phases.run_loadgen, signed, bodies, 1.0, 2)
    assert result["statuses"] and set(result["statuses"]) == {"202"}, result["statuses"]
    await phases._warm_up(signed)  # raises on a non-2xx answer
    # every 202 is on the raw topic (in 1 s the generator may not get through all 40 bodies,
    # or may send some twice: count records, not distinct bodies)
    sent, accepted = {w.body for w in bodies}, result["statuses"]["202"]
    records = await read(signed, [signed.topics.raw],
                         lambda rs: sum(r.value in sent for r in rs) >= accepted, 30)
    assert sum(r.value in sent for r in records) == accepted


def test_sign_curl_prints_a_command_the_edge_accepts(signed: Stack, tmp_path: Path) -> None:
    body = orjson.dumps(brief("interaction.created", f"curl-{time.time_ns()}", "chat"))
    body_file = tmp_path / "webhook.json"
    body_file.write_bytes(body)
    signing = subprocess.run([sys.executable, "-m", "cxone_router", "sign", "--curl",
                              str(body_file)], env=cli_env(signed), capture_output=True,
                             text=True, cwd=REPO_ROOT, timeout=30)
    assert signing.returncode == 0, signing.stderr
    assert "senders-secret" not in signing.stdout + signing.stderr
    line = signing.stdout.strip()
    assert line.startswith("curl ") and "\n" not in line
    posted = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=30)
    assert posted.returncode == 0, posted.stderr
    assert re.match(r"HTTP/1\.1 202\b", posted.stdout), posted.stdout
    assert asyncio.run(on_raw(signed, [body])) == {body}
    # the same line for another body is refused: the signature covers the bytes
    body_file.write_bytes(body + b" ")
    refused = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=30)
    assert re.match(r"HTTP/1\.1 401\b", refused.stdout), refused.stdout


async def test_demo_with_a_wrong_secret_reports_the_401s_and_claims_no_arrival(
        signed: Stack) -> None:
    out = io.StringIO()
    wrong = Signer(load_settings(edge_auth="hmac", edge_hmac_secrets="not-the-secret"))
    ok = await run_demo(signed.edge_url, signed.kafka, signed.topics,
                        Console(file=out, width=200), wrong)
    shown = out.getvalue()
    assert ok is False, shown
    assert shown.count("401 signature does not match") >= 9, shown
    assert "The demo did not go as expected" in shown
    assert "The edge refused the demo's credentials" in shown
    assert "What arrived" not in shown and "each arrives once" not in shown, shown


def test_dev_demo_signs_its_posts_and_reports_them_arrived() -> None:
    """`cxone-router dev --demo` with CXR_EDGE_AUTH=hmac: every sample is answered as
    expected (202, the malformed one 400), arrives, and dev exits 0 after Ctrl-C."""
    env = {**os.environ, **AUTH, "CXR_EDGE_PORT": str(free_port()), "CXR_METRICS_PORT": "0",
           "CXR_EMBEDDED_BROKER_PORT": "0", "CXR_TOPIC_PREFIX": f"sig{os.getpid()}",
           "CXR_LOG_LEVEL": "warning", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "cxone_router", "dev", "--demo"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO_ROOT, start_new_session=True)
    assert proc.stdout is not None
    shown = ""
    try:
        shown = read_until(proc, "Serving", 120)
    finally:
        rest = interrupt(proc)
    text = shown + rest
    assert "Serving" in text, text
    # a 401 answer, not those digits inside a port number (40171 failed this once)
    assert not re.search(r"\b401\b", text) and "did not go as expected" not in text, text
    assert len(re.findall(r"│ 202 ", text)) == 8 and len(re.findall(r"│ 400 ", text)) == 1, text
    assert "each arrives once on its channel topic" in text, text
    assert proc.returncode == 0, text
