"""The fault drills in their short form, on their own three-node Apache Kafka cluster:
under traffic, whatever fails, nothing the edge accepted (202) is lost, and with exactly
once (the default there) nothing is written twice. The full figures are `cxone-router
drill`'s, recorded in RELIABILITY.md."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from cxone_router.drills.figures import Figures
from cxone_router.drills.runner import run_drill
from cxone_router.drills.scenarios import BY_NAME, DRILLS, SHORT, Drill
from cxone_router.drills.verdicts import judge
from cxone_router.kafka.apache import ApacheKafka

pytestmark = [pytest.mark.integration, pytest.mark.apache]

# run through `cxone-router drill` (its own cluster): its verdict and exit status too
THROUGH_THE_COMMAND = BY_NAME["worker-kill"]
IN_PROCESS = [d for d in DRILLS if d is not THROUGH_THE_COMMAND]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    with ApacheKafka(nodes=3, folder=tmp_path_factory.mktemp("drills") / "kafka") as running:
        yield running


@pytest.mark.parametrize("drill", IN_PROCESS, ids=[d.name for d in IN_PROCESS])
def test_no_accepted_event_is_lost(cluster: ApacheKafka, drill: Drill,
                                   tmp_path: Path) -> None:
    result = run_drill(cluster, drill, SHORT, tmp_path, print)
    _assert_held(result.to_dict(), drill)


def test_the_command_ends_with_a_verdict_and_its_exit_status(tmp_path: Path) -> None:
    drill = THROUGH_THE_COMMAND
    done = subprocess.run(
        [sys.executable, "-m", "cxone_router", "drill", "--short", "--json", "--logs",
         str(tmp_path), drill.name], capture_output=True, text=True, timeout=600)
    (result,) = orjson.loads(done.stdout)
    _assert_held(result, drill)
    log = done.stderr.strip().splitlines()
    # the log announces the short plan's timings, which the fault then keeps
    assert f"[{drill.name}] kill -9 a worker, restart it {SHORT.worker_down:g} s later:" \
        in done.stderr, done.stderr
    assert f"fault in {SHORT.warmup:g} s" in done.stderr, done.stderr
    # the last line, one per drill, judges the figures printed; the exit status follows it
    # (whether the gap is within its target is the machine's speed: not asserted here)
    verdict = judge(Figures(**{k: v for k, v in result.items() if k != "verdict"}),
                    drill.targets)
    assert log[-1] == result["verdict"] == verdict.line, done.stderr
    assert verdict.line.startswith(f"{'PASS' if verdict.passed else 'MISS'} {drill.name}: "
                                   f"lost 0 (target 0), duplicates 0 (target 0), longest gap")
    assert done.returncode == (0 if verdict.passed else 1), done.stderr


def _assert_held(result: dict[str, Any], drill: Drill) -> None:
    checks = result["checks"]
    assert result["accepted"] > SHORT.rate * SHORT.warmup / 2, result  # traffic did flow
    assert result["lost"] == 0, result
    assert result["unfinished"] == 0, result  # every event was answered 202 in the end
    if drill.redeliver:  # the dedup table came back from its changelog after the restart
        assert checks["redelivered"] == SHORT.redeliveries, result
        assert checks["redelivered_emitted_again"] == 0, result
    if drill.check_raw:  # the edge answered 202 only for what the broker had
        assert checks["accepted_not_on_raw"] == 0, result
    # exactly once, Apache Kafka's default: read_committed, no event twice on any topic
    assert checks["processing_guarantee"] == "exactly_once", result
    assert result["duplicates"] == 0, result
    assert checks["fanout_duplicates"] == 0, result
    if drill.aborts:  # the fault hit open transactions: their writes were aborted, unseen
        assert checks["aborted_records"] > 0, result
