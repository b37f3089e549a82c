"""Fetch Prometheus `/metrics` pages and keep their samples: what `status` reads.

A page that cannot be fetched or parsed is a `Scrape` with an `error` (the target is
down), never an exception: an operator looking at the screen wants to see which one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: hashable, comparable
TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Sample:
    name: str  # the sample's full name (`cxr_events_total`, `..._bucket`)
    labels: Labels
    value: float

    def label(self, name: str) -> str:
        return dict(self.labels).get(name, "")


@dataclass(frozen=True, slots=True)
class Scrape:
    """One target's page at one moment (`at`: time.monotonic() when the request began)."""

    url: str
    at: float
    samples: tuple[Sample, ...] = ()
    error: str | None = None
    _by_name: dict[str, list[Sample]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for sample in self.samples:
            self._by_name.setdefault(sample.name, []).append(sample)

    @property
    def up(self) -> bool:
        return self.error is None

    @property
    def names(self) -> set[str]:
        """Every sample name on the page (`..._bucket`, `..._total` and so on)."""
        return set(self._by_name)

    def series(self, name: str, **match: str) -> list[Sample]:
        """The samples named `name` whose labels include every `match` pair."""
        found = self._by_name.get(name, [])
        if not match:
            return list(found)
        return [s for s in found if all(s.label(k) == v for k, v in match.items())]

    def value(self, name: str, **match: str) -> float | None:
        """The sum of the matching samples, None when there is none."""
        found = self.series(name, **match)
        return sum(s.value for s in found) if found else None


def labels_of(pairs: Iterable[tuple[str, str]]) -> Labels:
    return tuple(sorted(pairs))


def parse(text: str) -> tuple[Sample, ...]:
    """Every sample of a text exposition page (ValueError when it is not one)."""
    return tuple(
        Sample(s.name, labels_of(s.labels.items()), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx.HTTPError | httpx.InvalidURL):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"not a metrics page: {exc}"


async def fetch(client: httpx.AsyncClient, url: str) -> Scrape:
    at = time.monotonic()
    try:
        response = await client.get(url)
        if response.status_code != 200:
            return Scrape(url, at, error=f"HTTP {response.status_code}")
        return Scrape(url, at, parse(response.text))
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return Scrape(url, at, error=_reason(exc))


async def fetch_all(client: httpx.AsyncClient, urls: Sequence[str]) -> list[Scrape]:
    """Every URL at once; the result is in the order of `urls`."""
    return list(await asyncio.gather(*(fetch(client, url) for url in urls)))


def new_client(timeout: float = TIMEOUT_SECONDS) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False)
