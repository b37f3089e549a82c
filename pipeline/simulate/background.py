"""`run_simulation` for synchronous callers such as `dev --simulate`: a thread of its own.

    simulation = BackgroundSimulation(f"{edge_url}/webhooks/cxone", Profile(rate=50)).start()
    ...
    summary = simulation.stop()   # stops sending, drains in-flight events, returns the Summary

The thread owns its event loop, so the caller's loop (or lack of one) is untouched.
"""

from __future__ import annotations

import asyncio
import threading

from cxone_router.signing import Signer
from cxone_router.simulate.profiles import Profile
from cxone_router.simulate.runner import run_simulation
from cxone_router.simulate.summary import Summary


class BackgroundSimulation:
    def __init__(self, edge_url: str, profile: Profile, *, progress: bool = False,
                 signer: Signer | None = None) -> None:
        self._edge_url = edge_url
        self._signer = signer
        self._profile = profile
        self._progress = progress
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._summary: Summary | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="simulate", daemon=True)

    def start(self) -> BackgroundSimulation:
        self._thread.start()
        self._started.wait()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> Summary | None:
        """Stop sending and wait for the drain; None if it did not end within `timeout`."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> Summary | None:
        """Wait for a run with a count or duration to finish; None if still running."""
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        return self._summary

    def _run(self) -> None:
        async def main() -> Summary:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._started.set()
            return await run_simulation(
                self._edge_url, self._profile, progress=self._progress, stop=self._stop,
                signer=self._signer,
            )

        try:
            self._summary = asyncio.run(main())
        except BaseException as exc:  # handed to the caller of stop()
            self._error = exc
        finally:
            self._started.set()
