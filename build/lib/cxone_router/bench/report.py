"""The benchmark's report: a JSON file for scripts, a markdown table for people."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from cxone_router.bench.phases import (
    EdgeResult,
    LatencyResult,
    MemoryResult,
    PipelineResult,
    StackResult,
)

TARGETS = {
    "edge_accepted_per_second": 10_000,
    "edge_p99_ms": 20,
    "one_worker_events_per_second": 5_000,
    "e2e_p99_ms_at_1000": 100,
    "two_worker_ratio": 1.6,
}


def build(command: str, machine: dict[str, Any], edge: EdgeResult,
          workers: list[PipelineResult], latency: LatencyResult, whole: StackResult,
          memory: MemoryResult | None) -> dict[str, Any]:
    one = workers[0]
    two = workers[1] if len(workers) > 1 else None
    return {
        "command": command,
        "machine": machine,
        "edge": asdict(edge),
        "pipeline": [asdict(w) for w in workers],
        "two_worker_ratio": round(two.events_per_second / one.events_per_second, 2)
        if two else None,
        "latency": asdict(latency),
        "whole_stack": asdict(whole),
        "memory": asdict(memory) if memory else None,
        "targets": TARGETS,
    }


def _row(name: str, value: object, target: str, met: bool | None) -> str:
    verdict = "" if met is None else ("yes" if met else "**no**")
    return f"| {name} | {value} | {target} | {verdict} |"


def markdown(report: dict[str, Any]) -> str:
    edge, latency, memory = report["edge"], report["latency"], report["memory"]
    whole = report["whole_stack"]
    one = report["pipeline"][0]
    ratio = report["two_worker_ratio"]
    m = report["machine"]
    rows = [
        "| metric | value | target | met |",
        "| --- | --- | --- | --- |",
        _row(f"edge: accepted webhooks/s ({edge['connections']} connections, acks=all)",
             edge["accepted_per_second"], ">= 10,000", edge["accepted_per_second"] >= 10_000),
        _row("edge: 202 latency p50 / p99 (ms)", f"{edge['p50_ms']} / {edge['p99_ms']}",
             "p99 < 20", edge["p99_ms"] < 20),
        _row("edge: answers other than 202", edge["non_202"] or "none", "none",
             not edge["non_202"]),
        _row("load generator CPU (share of one core)", edge["loadgen_cpu_share"],
             "< 1.0 (not the bottleneck)", edge["loadgen_cpu_share"] < 0.9),
        _row("one worker: events/s, raw to last fan-out write", one["events_per_second"],
             ">= 5,000", one["events_per_second"] >= 5_000),
    ]
    rows.append(_row("one worker: CPU ms per 1,000 events, worker / broker",
                     f"{one['worker_cpu_ms_per_1k']} / {one['broker_cpu_ms_per_1k']}",
                     "reported", None))
    if ratio is not None:
        two = report["pipeline"][1]
        rows.append(_row("two workers: events/s (ratio to one)",
                         f"{two['events_per_second']} ({ratio}x)", ">= 1.6x where the cores allow",
                         ratio >= 1.6))
    rows.append(_row(f"end-to-end latency p50 / p95 / p99 (ms) at "
                     f"{latency['offered_per_second']:g}/s",
                     f"{latency['p50_ms']} / {latency['p95_ms']} / {latency['p99_ms']}",
                     "p99 < 100", latency["p99_ms"] < 100))
    rows.append(_row("latency phase: accepted / read back from fan-out",
                     f"{latency['accepted']:,} / {latency['events']:,}", "equal",
                     latency["accepted"] == latency["events"]))
    rows.append(_row(f"whole stack as `dev` runs it ({whole['connections']} connections): "
                     "accepted/s, 202 p50 / p99 (ms)",
                     f"{whole['accepted_per_second']} ({whole['p50_ms']} / {whole['p99_ms']})",
                     "reported", None))
    rows.append(_row("whole stack: events/s edge to fan-out, accepted events missing",
                     f"{whole['events_per_second']}, {whole['missing']}", "missing 0",
                     whole["missing"] == 0))
    if memory:
        rows.append(_row(f"worker RSS after {memory['dedup_keys']:,} dedup keys (MiB)",
                         f"{memory['worker_rss_mib']} (idle {memory['rss_before_mib']})",
                         "reported", None))
    header = (f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, "
              f"Python {m['python']}, Linux {m['kernel']}\n\nCommand: `{report['command']}`\n")
    return header + "\n" + "\n".join(rows) + "\n"


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "bench.json", out / "bench.md"
    json_path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    md_path.write_text(markdown(report))
    return json_path, md_path
