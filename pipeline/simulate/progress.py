"""A rich progress bar on stderr that reads the tally a few times a second.

It never runs per request, so it costs nothing at 10,000 events/s; stdout stays free for
`--json`.
"""

from __future__ import annotations

import asyncio
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cxone_router.simulate.profiles import Profile
from cxone_router.simulate.summary import Tally

REFRESH_SECONDS = 0.25


def _describe(tally: Tally, elapsed: float) -> str:
    rate = tally.sent / elapsed if elapsed > 0 else 0.0
    return (
        f"sent {tally.sent}  accepted {tally.accepted}  retried {tally.retried}  "
        f"rejected {tally.rejected}  lost {tally.lost}  {rate:,.0f}/s"
    )


async def show_progress(profile: Profile, tally: Tally, started: float) -> None:
    """Draw until cancelled; the bar measures events for `count`, seconds for `duration`."""
    total: float | None = profile.count if profile.count is not None else profile.duration
    progress = Progress(
        TextColumn("[bold]simulate"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    task = progress.add_task("", total=total)

    def refresh() -> None:
        elapsed = time.monotonic() - started
        done = tally.sent if profile.count is not None else min(elapsed, total or 0.0)
        progress.update(task, completed=done, description=_describe(tally, elapsed))

    with progress:
        try:
            while True:
                refresh()
                await asyncio.sleep(REFRESH_SECONDS)
        finally:
            refresh()
