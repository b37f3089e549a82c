"""Test-side tools: a handle on the fake CXone, an injectable sleep and clock."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from cxone_router.cxone.settings import CxoneSettings, load_cxone_settings


class FakeCxone:
    """Test-side handle on the fake: its URL and its `/_fake/` control endpoints."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.control = httpx.Client(base_url=base_url, timeout=10)

    def faults(self, **faults: Any) -> None:
        self.control.post("/_fake/faults", json=faults).raise_for_status()

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = self.control.get("/_fake/stats").json()
        return stats

    def issued_tokens(self) -> list[str]:
        tokens: list[str] = self.control.get("/_fake/tokens").json()["tokens"]
        return tokens

    def reset(self) -> None:
        self.control.post("/_fake/reset").raise_for_status()


class RecordingSleep:
    """An injectable sleep that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds



def fast_settings(base_url: str, **overrides: Any) -> CxoneSettings:
    """The fake's demo settings, unthrottled and with quick backoff unless overridden."""
    defaults: dict[str, Any] = {
        "rate_per_second": 10_000.0,
        "burst": 10_000,
        "max_retries": 3,
        "backoff_base_seconds": 0.01,
        "backoff_cap_seconds": 0.05,
        "request_timeout_seconds": 5.0,
    }
    demo = CxoneSettings.for_fake(base_url).model_dump()
    return load_cxone_settings(**{**demo, **defaults, **overrides})
