"""Realistic CXone traffic against the edge: `cxone-router simulate`, `dev --simulate`, `bench`.

Public API:

    async def run_simulation(
        edge_url: str, profile: Profile, *, progress: bool = True,
        stop: asyncio.Event | None = None, signer: Signer | None = None,
    ) -> Summary

posts the traffic `profile` describes to `edge_url` (the full webhook URL) and returns what
happened. With neither `profile.duration` nor `profile.count` it runs until `stop` is set,
then drains the events in flight. `progress` draws a rich progress bar on stderr.
`signer` (pipeline/signing.py) authenticates each request when the edge has CXR_EDGE_AUTH.
`Summary.ok` is False when an event was lost or a clean event was refused.

Synchronous callers (`dev --simulate`) use `background.BackgroundSimulation`, which runs the
same coroutine in a thread with its own event loop and returns the `Summary` from `stop()`.

Modules: `profiles` (the knobs), `generators` (the seeded stream) built from `conversations`,
`fakes` and `shapes/` (one module per payload shape) plus `malformed`; `sender` (one event,
retries), `runner` (pacing, workers), `summary`, `progress`, `cli`.
"""

from cxone_router.simulate.profiles import Profile, parse_channel_mix
from cxone_router.simulate.runner import run_simulation
from cxone_router.simulate.summary import Summary

__all__ = ["Profile", "Summary", "parse_channel_mix", "run_simulation"]
