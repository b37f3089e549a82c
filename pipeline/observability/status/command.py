"""`cxone-router status [--watch] [--json]`: scrape, compute, show."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.live import Live

from cxone_router.observability.scrape import fetch_all, new_client
from cxone_router.observability.status.figures import Status, figures
from cxone_router.observability.status.screen import render
from cxone_router.observability.status.window import Snapshot, Thresholds


async def snapshot(edge: str, workers: Sequence[str]) -> Snapshot:
    at = time.monotonic()
    async with new_client() as client:
        edge_scrape, *worker_scrapes = await fetch_all(client, [edge, *workers])
    return Snapshot(at, edge_scrape, tuple(worker_scrapes))


async def _once(edge: str, workers: Sequence[str], interval: float,
                thresholds: Thresholds) -> Status:
    first = await snapshot(edge, workers)
    await asyncio.sleep(max(0.0, first.at + interval - time.monotonic()))
    return figures(first, await snapshot(edge, workers), thresholds)


async def _watch(edge: str, workers: Sequence[str], interval: float, thresholds: Thresholds,
                 console: Console) -> None:
    prev = await snapshot(edge, workers)
    with Live(render(figures(prev, prev, thresholds)), console=console,
              auto_refresh=False) as live:
        while True:
            await asyncio.sleep(max(0.0, prev.at + interval - time.monotonic()))
            cur = await snapshot(edge, workers)
            live.update(render(figures(prev, cur, thresholds)), refresh=True)
            prev = cur


def load_thresholds(schemas_dir: Path) -> Thresholds:
    """The latency and freshness SLOs' thresholds (a bad SLO file: one clear error)."""
    from cxone_router.observability.slo import load_slos

    slo_file = load_slos(schemas_dir)

    def threshold(kind: str) -> float | None:
        found = [s.threshold_seconds for s in slo_file.slos if s.kind == kind]
        return found[0] if found else None

    return Thresholds(threshold("latency"), threshold("freshness"))


def status_command(
    edge: Annotated[str | None, typer.Option(
        "--edge", help="The edge's /metrics URL (default: "
        "the running `cxone-router dev`'s, else CXR_EDGE_HOST:CXR_EDGE_PORT's, or the "
        "admin port's when CXR_EDGE_ADMIN_PORT is set).", show_default=False)] = None,
    worker: Annotated[list[str] | None, typer.Option(
        "--worker", help="A worker's /metrics URL; repeat for each worker (default: "
        "the running `cxone-router dev`'s worker, else "
        "http://CXR_METRICS_HOST:CXR_METRICS_PORT/metrics).", show_default=False)] = None,
    interval: Annotated[float, typer.Option(
        "--interval", min=0.1, help="Seconds between the two scrapes rates and percentiles "
        "come from (and between refreshes with --watch).")] = 2.0,
    watch: Annotated[bool, typer.Option(
        "--watch", help="Refresh the screen every --interval seconds until Ctrl-C.")] = False,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print the figures as one JSON object instead (one-shot only).")] = False,
) -> None:
    """Show the pipeline on one screen from the edge's and workers' /metrics pages: intake,
    per-channel events/s and end-to-end p50/p99 against the latency SLO, consumer lag
    against the freshness SLO, dead letters, schema drift and the workers. Rates and
    percentiles come from two scrapes --interval seconds apart. Exit code 1 when a target
    could not be scraped (one-shot)."""
    from cxone_router.settings import load_command_settings

    if watch and json_output:
        raise typer.BadParameter("--json is one-shot only; drop --watch", param_hint="--json")
    settings = load_command_settings()
    edge_url = edge or settings.edge_metrics_url
    worker_urls = list(dict.fromkeys(
        worker or [settings.worker_metrics_url]))
    thresholds = load_thresholds(settings.schemas_dir)
    console = Console()
    if watch:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a watch ends
            asyncio.run(_watch(edge_url, worker_urls, interval, thresholds, console))
        return
    try:
        status = asyncio.run(_once(edge_url, worker_urls, interval, thresholds))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if json_output:
        sys.stdout.buffer.write(orjson.dumps(status.to_json()) + b"\n")
        sys.stdout.flush()
    else:
        console.print(render(status))
    raise typer.Exit(1 if status.down else 0)
