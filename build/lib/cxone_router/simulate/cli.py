"""`cxone-router simulate`: the runner behind a typer command, Ctrl-C included.

The first Ctrl-C stops sending and drains what is in flight, then prints the summary; a
second one abandons the drain. Exit code 0 when every event ended accepted or deliberately
rejected, 1 when any was lost or a clean event was refused, 130 when abandoned.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import typer

from cxone_router.settings import load_command_settings
from cxone_router.signing import Signer, signer_for
from cxone_router.simulate.profiles import DEFAULT_CHANNEL_MIX, Profile, parse_channel_mix
from cxone_router.simulate.runner import run_simulation
from cxone_router.simulate.summary import Summary

_DEFAULT_MIX_TEXT = ",".join(f"{c}={w}" for c, w in DEFAULT_CHANNEL_MIX.items())


async def _run_interruptible(url: str, profile: Profile, progress: bool,
                             signer: Signer | None = None) -> Summary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def interrupt() -> None:
        if stop.is_set() and main is not None:
            main.cancel()
        stop.set()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        return await run_simulation(url, profile, progress=progress, stop=stop, signer=signer)
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but optional here
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def simulate_command(
    url: Annotated[
        str | None,
        typer.Option(help="The edge's webhook URL; default: the running `cxone-router dev`'s "
                     "edge, else CXR_EDGE_HOST:CXR_EDGE_PORT's /webhooks/cxone.",
                     show_default=False),
    ] = None,
    rate: Annotated[
        float, typer.Option(help="Events per second; 0 = as fast as concurrency allows.")
    ] = 100.0,
    duration: Annotated[
        float | None, typer.Option(help="Seconds to send for.", show_default=False)
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="Events to send (default: until Ctrl-C).", show_default=False)
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Events in flight at once.")] = 64,
    channels: Annotated[
        str, typer.Option(help="Channel weights among interactions.")
    ] = _DEFAULT_MIX_TEXT,
    simplified: Annotated[
        float,
        typer.Option(
            help="Share of interactions in the simplified webhook shape; the rest use "
            "Studio form posts (voice) or DFO events (chat, sms, email)."
        ),
    ] = 0.3,
    redeliveries: Annotated[
        float, typer.Option(help="Share of events sent again byte for byte.")
    ] = 0.05,
    drift: Annotated[
        float, typer.Option(help="Share of JSON interactions with fields moved (drift).")
    ] = 0.1,
    malformed: Annotated[
        float, typer.Option(help="Share of events that are malformed on purpose.")
    ] = 0.01,
    seed: Annotated[
        int | None, typer.Option(help="Seed for reproducible traffic.", show_default=False)
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one answer.")] = 10.0,
    max_attempts: Annotated[int, typer.Option(help="Attempts per event, first included.")] = 5,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
) -> None:
    """Post realistic CXone traffic to the edge and summarise how it was answered. With
    CXR_EDGE_AUTH set (hmac, bearer or basic, as the edge has it), every request is signed
    with the edge's CXR_EDGE_* settings."""
    profile = Profile(
        rate=rate or None,
        duration=duration,
        count=count,
        concurrency=concurrency,
        channels=parse_channel_mix(channels),
        simplified=simplified,
        redeliveries=redeliveries,
        drift=drift,
        malformed=malformed,
        seed=seed,
        timeout=timeout,
        max_attempts=max_attempts,
    )
    settings = load_command_settings()
    url = url or settings.webhook_url
    signer = signer_for(settings)
    progress = not no_progress and sys.stderr.isatty()
    try:
        with asyncio.Runner(loop_factory=_event_loop) as runner:
            summary = runner.run(_run_interruptible(url, profile, progress, signer))
    except asyncio.CancelledError:
        typer.secho("abandoned: events still in flight were not counted", err=True)
        raise typer.Exit(130) from None
    if json_output:
        sys.stdout.buffer.write(summary.to_json() + b"\n")
        sys.stdout.flush()
    else:
        typer.echo(summary.to_text())
    raise typer.Exit(0 if summary.ok else 1)
