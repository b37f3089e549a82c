"""Rates and percentiles between two scrapes, as Prometheus' `rate()` and
`histogram_quantile()` would compute them over that window: a counter that went down was
reset (the process restarted) and counts from zero; a percentile is interpolated linearly
within its bucket."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cxone_router.observability.scrape import Scrape

Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every target scraped once; `at` is time.monotonic() when the scrape began."""

    at: float
    edge: Scrape
    workers: tuple[Scrape, ...]

    @property
    def targets(self) -> tuple[Scrape, ...]:
        return (self.edge, *self.workers)


@dataclass(frozen=True, slots=True)
class Thresholds:
    latency_seconds: float | None  # the latency SLO's, for each channel's p99
    freshness_seconds: float | None  # the freshness SLO's, for the oldest unprocessed record


def increase(before: float | None, now: float) -> float:
    """A counter's increase; one that went down was reset and counts from zero."""
    if before is None or now < before:
        return now
    return now - before


def increases(prev: Scrape, cur: Scrape, name: str, by: Sequence[str],
              **match: str) -> dict[Key, float]:
    """Each series' increase from `prev` to `cur`, summed by the labels `by`."""
    before = {s.labels: s.value for s in prev.series(name, **match)}
    out: dict[Key, float] = {}
    for sample in cur.series(name, **match):
        key = tuple(sample.label(b) for b in by)
        out[key] = out.get(key, 0.0) + increase(before.get(sample.labels), sample.value)
    return out


def rates(prev: Scrape, cur: Scrape, name: str, by: Sequence[str],
          **match: str) -> dict[Key, float] | None:
    """Per-second increases of one target; None unless it answered both scrapes."""
    elapsed = cur.at - prev.at
    if not (prev.up and cur.up) or prev.url != cur.url or elapsed <= 0:
        return None
    return {k: v / elapsed for k, v in increases(prev, cur, name, by, **match).items()}


def scrape_pairs(prev: Snapshot, cur: Snapshot) -> list[tuple[Scrape, Scrape]]:
    before = {s.url: s for s in prev.workers}
    return [(before[s.url], s) for s in cur.workers if s.url in before]


def worker_rates(prev: Snapshot, cur: Snapshot, name: str, by: Sequence[str],
                 **match: str) -> dict[Key, float] | None:
    """Rates summed over the workers that answered both scrapes; None when none did."""
    total: dict[Key, float] | None = None
    for before, now in scrape_pairs(prev, cur):
        found = rates(before, now, name, by, **match)
        if found is None:
            continue
        total = total or {}
        for key, value in found.items():
            total[key] = total.get(key, 0.0) + value
    return total


def totals(scrapes: Iterable[Scrape], name: str, by: Sequence[str],
           **match: str) -> dict[Key, float]:
    """Current values summed over the targets that answered, by the labels `by`."""
    out: dict[Key, float] = {}
    for scrape in scrapes:
        for sample in scrape.series(name, **match):
            key = tuple(sample.label(b) for b in by)
            out[key] = out.get(key, 0.0) + sample.value
    return out


def _buckets(scrape: Scrape, name: str, **match: str) -> dict[float, float]:
    return {float(s.label("le")): s.value for s in scrape.series(f"{name}_bucket", **match)}


def window_buckets(prev: Scrape, cur: Scrape, name: str, **match: str) -> dict[float, float]:
    """A histogram's cumulative bucket counts observed between two scrapes of a target.
    When its `_count` went down the process restarted: everything since counts."""
    now = _buckets(cur, name, **match)
    before = _buckets(prev, name, **match)
    count_before = prev.value(f"{name}_count", **match)
    count_now = cur.value(f"{name}_count", **match)
    if not before or (count_before is not None and count_now is not None
                      and count_now < count_before):
        return now
    return {le: max(0.0, v - before.get(le, 0.0)) for le, v in now.items()}


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus' `histogram_quantile` over cumulative counts by upper bound (`le`):
    linear interpolation within the bucket holding the rank (from 0 for the first
    bucket); a rank in the +Inf bucket gives the highest finite bound. None without
    observations or without a +Inf bucket."""
    ordered = sorted(buckets.items())
    if not ordered or not math.isinf(ordered[-1][0]):
        return None
    cumulative: list[tuple[float, float]] = []
    highest = 0.0
    for bound, count in ordered:  # counts scraped at slightly different times: monotonic
        highest = max(highest, count)
        cumulative.append((bound, highest))
    total = cumulative[-1][1]
    if total <= 0:
        return None
    rank = q * total
    index = next(i for i, (_, count) in enumerate(cumulative) if count >= rank)
    if index == len(cumulative) - 1:
        return cumulative[-2][0] if len(cumulative) > 1 else None
    upper, count = cumulative[index]
    if index == 0:
        if upper <= 0:
            return upper
        lower, below = 0.0, 0.0
    else:
        lower, below = cumulative[index - 1]
    in_bucket = count - below
    if in_bucket <= 0:
        return lower
    return lower + (upper - lower) * (rank - below) / in_bucket
