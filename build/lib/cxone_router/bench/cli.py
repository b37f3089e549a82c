"""`cxone-router bench`: run every phase, write bench.json and bench.md."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from cxone_router.bench import phases, report
from cxone_router.settings import load_settings


def bench_command(
    out: Path = typer.Option(Path("bench-results"), "--out", help="Folder for bench.json "
                             "and bench.md."),
    smoke: bool = typer.Option(False, "--smoke", help="A few seconds per phase: checks the "
                               "bench works, measures nothing worth quoting."),
    events: int = typer.Option(100_000, "--events", min=100, help="Events pre-produced for "
                               "the pipeline phases."),
    connections: int = typer.Option(64, "--connections", min=1, help="Concurrent "
                                    "connections of the edge phase."),
    seconds: float = typer.Option(20.0, "--seconds", min=1, help="Length of the edge and "
                                  "latency phases."),
    memory_keys: int = typer.Option(1_000_000, "--memory-keys", min=0, help="Distinct dedup "
                                    "keys for the memory phase (0 skips it)."),
    peers: bool = typer.Option(False, "--peers", help="Only the worker against its peers: "
                               "the same job on Quix Streams and on a plain aiokafka loop, "
                               "each in its own process, on a one-node Apache Kafka (or "
                               "CXR_KAFKA_BOOTSTRAP), --events events; events/s, CPU per "
                               "1,000 events, identical outputs (write peers.json in "
                               "--out; exit 1 when the outputs differ). Needs the bench "
                               "extra: pip install '.[bench]'."),
    transform: bool = typer.Option(False, "--transform", help="Only the worker's transform, "
                                   "in this process, no Kafka: decode, keys, normalize, "
                                   "fan-out with redaction, per event and per stage, over "
                                   "--events events (write transform.json in --out)."),
) -> None:
    """Measure the edge, one and two workers, end-to-end latency at 1,000 events/s, the
    whole stack as `dev` runs it and the worker's memory, on the embedded broker (or
    CXR_KAFKA_BOOTSTRAP). With --transform, only the transform's CPU time per event."""
    if smoke:
        events, seconds, memory_keys = min(events, 2_000), 2.0, min(memory_keys, 2_000)
    if transform:
        _transform(out, events, smoke)
        return
    if peers:
        _peers(out, events)
        return
    base = load_settings()
    console = Console(stderr=True)
    command = "cxone-router " + shlex.join(sys.argv[1:])
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console) as progress:
        def step(description: str) -> TaskID:
            return progress.add_task(description, total=1)

        task = step(f"edge: {connections} connections for {seconds:g} s")
        edge = phases.edge_phase(base, seconds, connections)
        progress.update(task, completed=1)
        workers = []
        for count in (1, 2):
            task = step(f"pipeline: {events:,} events, {count} worker(s)")
            workers.append(phases.pipeline_phase(base, events, count))
            progress.update(task, completed=1)
        rate = 100.0 if smoke else 1_000.0
        task = step(f"latency: {rate:g} events/s for {seconds:g} s")
        latency = phases.latency_phase(base, rate, seconds)
        progress.update(task, completed=1)
        task = step(f"whole stack (edge + worker): {connections} connections for {seconds:g} s")
        whole = phases.whole_stack_phase(base, seconds, connections)
        progress.update(task, completed=1)
        memory = None
        if memory_keys:
            task = step(f"memory: {memory_keys:,} distinct dedup keys")
            memory = phases.memory_phase(base, memory_keys)
            progress.update(task, completed=1)
    result = report.build(command, phases.machine(), edge, workers, latency, whole, memory)
    json_path, md_path = report.write(result, out)
    Console().print(md_path.read_text())
    console.print(f"written: {json_path} and {md_path}")


def _peers(out: Path, events: int) -> None:
    from dataclasses import asdict

    import orjson

    from cxone_router.bench.peers import peers_phase

    console = Console(stderr=True)
    console.print(f"peers: {events:,} events on each candidate, one after the other")
    result = peers_phase(load_settings(), events)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "peers.json"
    path.write_bytes(orjson.dumps(asdict(result), option=orjson.OPT_INDENT_2))
    Console().print(result.to_markdown(), highlight=False)
    console.print(f"written: {path}")
    if not result.identical:
        raise typer.Exit(1)


def _transform(out: Path, events: int, smoke: bool) -> None:
    from dataclasses import asdict

    import orjson

    from cxone_router.bench import transform

    console = Console(stderr=True)
    repeats = 2 if smoke else 5
    console.print(f"transform: {events:,} events, a warm-up pass, then {repeats} timed passes")
    result = transform.run(events, repeats=repeats)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "transform.json"
    path.write_bytes(orjson.dumps(asdict(result), option=orjson.OPT_INDENT_2))
    Console().print(transform.render(result), highlight=False)
    console.print(f"written: {path}")
