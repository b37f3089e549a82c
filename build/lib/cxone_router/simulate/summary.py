"""What a run did: counters while it runs (`Tally`), a frozen `Summary` at the end.

Latencies of 202s go into a log-bucketed histogram (2 % wide buckets) rather than a list,
so a long run at 10,000 events/s keeps constant memory; percentiles are accurate to a
bucket width.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from cxone_router.quantiles import nearest_rank

_BUCKET_GROWTH = math.log(1.02)
_FLOOR_SECONDS = 1e-6


class LatencyHistogram:
    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.max = 0.0

    def record(self, seconds: float) -> None:
        self._buckets[
            int(math.log(max(seconds, _FLOOR_SECONDS) / _FLOOR_SECONDS) / _BUCKET_GROWTH)
        ] += 1
        self.count += 1
        self.max = max(self.max, seconds)

    def quantile(self, q: float) -> float | None:
        """Upper edge of the bucket holding the q-quantile (never above the max seen)."""
        if not self.count:
            return None
        rank = nearest_rank(q, self.count)
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                return min(_FLOOR_SECONDS * math.exp((bucket + 1) * _BUCKET_GROWTH), self.max)
        return self.max


@dataclass(slots=True)
class Tally:
    """Live counters; the sender updates them, the progress bar reads them."""

    sent: int = 0
    """Events posted at least once (redeliveries and malformed ones included)."""
    accepted: int = 0
    rejected: int = 0
    """Events that ended in a 4xx."""
    unexpected_rejections: int = 0
    """4xx answers to events that were not deliberately malformed."""
    lost: int = 0
    """Events that never got a final answer: attempts exhausted, timeouts, connection errors."""
    retried: int = 0
    """Retry attempts, summed over events."""
    duplicates_sent: int = 0
    drifted_sent: int = 0
    malformed_sent: int = 0
    malformed_accepted: int = 0
    """Malformed but valid JSON objects the edge took; the pipeline should dead-letter them."""
    statuses: Counter[str] = field(default_factory=Counter)
    """Final answer per event: HTTP status, or "timeout" / "connection-error"."""
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    @property
    def finished(self) -> int:
        return self.accepted + self.rejected + self.lost

    def summary(self, elapsed: float, seed: int) -> Summary:
        def ms(q: float) -> float | None:
            value = self.latency.quantile(q)
            return None if value is None else round(value * 1000, 3)

        return Summary(
            sent=self.sent,
            accepted=self.accepted,
            duplicates_sent=self.duplicates_sent,
            retried=self.retried,
            rejected=self.rejected,
            unexpected_rejections=self.unexpected_rejections,
            lost=self.lost,
            drifted_sent=self.drifted_sent,
            malformed_sent=self.malformed_sent,
            malformed_accepted=self.malformed_accepted,
            elapsed_seconds=round(elapsed, 3),
            achieved_rate=round(self.sent / elapsed, 1) if elapsed > 0 else 0.0,
            latency_ms={"p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "max": ms(1.0)},
            statuses=dict(sorted(self.statuses.items())),
            seed=seed,
        )


@dataclass(frozen=True, slots=True)
class Summary:
    sent: int
    accepted: int
    duplicates_sent: int
    retried: int
    rejected: int
    unexpected_rejections: int
    lost: int
    drifted_sent: int
    malformed_sent: int
    malformed_accepted: int
    elapsed_seconds: float
    achieved_rate: float
    """Events sent per second of the whole run, draining included."""
    latency_ms: dict[str, float | None]
    """Of the attempts answered 202."""
    statuses: dict[str, int]
    seed: int

    @property
    def ok(self) -> bool:
        """Every event ended accepted or deliberately rejected."""
        return self.lost == 0 and self.unexpected_rejections == 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2)

    def to_text(self) -> str:
        lat = self.latency_ms

        def fmt(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} ms"

        lines = [
            f"sent             {self.sent}  (duplicates {self.duplicates_sent}, "
            f"drifted {self.drifted_sent}, malformed {self.malformed_sent})",
            f"accepted (202)   {self.accepted}",
            f"retried          {self.retried}",
            f"rejected (4xx)   {self.rejected}  (unexpected {self.unexpected_rejections})",
            f"lost             {self.lost}",
            f"achieved rate    {self.achieved_rate:.1f} events/s over {self.elapsed_seconds:.1f} s",
            f"latency of 202s  p50 {fmt(lat['p50'])}  p90 {fmt(lat['p90'])}  "
            f"p99 {fmt(lat['p99'])}  max {fmt(lat['max'])}",
            "final answers    " + ", ".join(f"{k}: {v}" for k, v in self.statuses.items()),
            f"seed             {self.seed}",
        ]
        return "\n".join(lines)
