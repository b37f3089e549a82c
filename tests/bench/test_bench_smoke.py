"""The benchmark runs end to end in smoke mode and writes a well-formed report.

It asserts no speed: these machines are shared; the real numbers are in BENCHMARKS.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.integration


def test_bench_smoke_writes_every_section(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cxone_router", "bench", "--smoke", "--out", str(tmp_path)],
        capture_output=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    report = orjson.loads((tmp_path / "bench.json").read_bytes())

    edge = report["edge"]
    assert edge["accepted_per_second"] > 0 and 0 < edge["p50_ms"] <= edge["p99_ms"]
    assert edge["non_202"] == {}  # the edge refused nothing it was offered
    assert edge["loadgen_cpu_share"] > 0
    assert [w["workers"] for w in report["pipeline"]] == [1, 2]
    assert all(w["events"] == 2_000 and w["events_per_second"] > 0 for w in report["pipeline"])
    assert all(w["worker_cpu_ms_per_1k"] > 0 and w["broker_cpu_ms_per_1k"] > 0
               for w in report["pipeline"])
    assert report["two_worker_ratio"] > 0
    latency = report["latency"]
    assert latency["accepted"] > 0 and latency["events"] == latency["accepted"]  # none lost
    assert latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"]
    whole = report["whole_stack"]
    assert whole["accepted_per_second"] > 0 and whole["events_per_second"] > 0
    assert whole["missing"] == 0  # every accepted event came out on fan-out
    assert report["memory"]["dedup_keys"] == 2_000 and report["memory"]["worker_rss_mib"] > 0
    assert report["machine"]["cpus"] >= 1 and report["command"].startswith("cxone-router bench")

    table = (tmp_path / "bench.md").read_text()
    for row in ("edge: accepted webhooks/s", "one worker: events/s", "two workers",
                "end-to-end latency", "read back from fan-out", "CPU ms per 1,000",
                "whole stack as `dev` runs it", "worker RSS after"):
        assert row in table
