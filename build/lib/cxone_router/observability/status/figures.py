"""The figures of the status screen: pure functions of two `Snapshot`s."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cxone_router.observability.scrape import Scrape
from cxone_router.observability.status.window import (
    Snapshot,
    Thresholds,
    histogram_quantile,
    rates,
    scrape_pairs,
    totals,
    window_buckets,
    worker_rates,
)

LATENCY = "cxr_end_to_end_latency_seconds"
UNKNOWN_CHANNEL = "unknown"  # holds only dead letters, shown by reason


@dataclass(frozen=True, slots=True)
class Counted:
    total: float
    per_second: float | None


@dataclass(frozen=True, slots=True)
class Intake:
    accepted_per_second: float | None
    answers: dict[str, Counted]  # by HTTP status, handler="webhook"
    in_flight: float | None
    broker_ready: bool | None


@dataclass(frozen=True, slots=True)
class ChannelFigures:
    normalized_total: float
    normalized_per_second: float | None
    duplicates_per_second: float | None
    events_in_window: float | None
    p50_seconds: float | None
    p99_seconds: float | None
    latency_ok: bool | None  # p99 <= the latency SLO threshold


@dataclass(frozen=True, slots=True)
class Lag:
    seconds: float | None  # age of the oldest unprocessed raw record, max over everything
    records: float | None  # max over workers per partition, summed over partitions
    ok: bool | None  # seconds <= the freshness SLO threshold


@dataclass(frozen=True, slots=True)
class Drift:
    channel: str
    field: str
    total: float
    per_second: float | None


@dataclass(frozen=True, slots=True)
class Target:
    role: str  # "edge" | "worker"
    url: str
    up: bool
    error: str | None
    version: str | None
    assigned_partitions: float | None = None


@dataclass(frozen=True, slots=True)
class Status:
    window_seconds: float
    thresholds: Thresholds
    targets: list[Target]
    intake: Intake | None
    channels: dict[str, ChannelFigures]
    lag: Lag
    dead_letters: dict[str, Counted]
    drift: list[Drift]
    members: float | None
    down: list[str] = field(default_factory=list)  # URLs that failed a scrape

    def to_json(self) -> dict[str, Any]:
        edge = self.targets[0]
        return {
            "window_seconds": _round(self.window_seconds),
            "slo": {"latency_seconds": self.thresholds.latency_seconds,
                    "freshness_seconds": self.thresholds.freshness_seconds},
            "edge": {"url": edge.url, "up": edge.up, "error": edge.error,
                     "version": edge.version},
            "intake": None if self.intake is None else {
                "accepted_per_second": _round(self.intake.accepted_per_second),
                "answers": {k: _counted(v) for k, v in self.intake.answers.items()},
                "in_flight": _round(self.intake.in_flight),
                "broker_ready": self.intake.broker_ready,
            },
            "channels": {name: {
                "normalized_total": _round(c.normalized_total),
                "normalized_per_second": _round(c.normalized_per_second),
                "duplicates_per_second": _round(c.duplicates_per_second),
                "events_in_window": _round(c.events_in_window),
                "p50_seconds": _round(c.p50_seconds),
                "p99_seconds": _round(c.p99_seconds),
                "latency_ok": c.latency_ok,
            } for name, c in self.channels.items()},
            "lag": {"seconds": _round(self.lag.seconds), "records": _round(self.lag.records),
                    "ok": self.lag.ok},
            "dead_letters": {k: _counted(v) for k, v in self.dead_letters.items()},
            "drift": {"pairs": len(self.drift),
                      "fields": [{"channel": d.channel, "field": d.field,
                                  "total": _round(d.total),
                                  "per_second": _round(d.per_second)} for d in self.drift]},
            "workers": {"members": _round(self.members),
                        "targets": [{"url": t.url, "up": t.up, "error": t.error,
                                     "version": t.version,
                                     "assigned_partitions": _round(t.assigned_partitions)}
                                    for t in self.targets[1:]]},
            "down": self.down,
        }


def _round(value: float | None) -> float | int | None:
    if value is None:
        return None
    if value.is_integer():
        return int(value)
    return round(value, 6)


def _counted(c: Counted) -> dict[str, float | int | None]:
    return {"total": _round(c.total), "per_second": _round(c.per_second)}


def _max(values: Iterable[float]) -> float | None:
    found = list(values)
    return max(found) if found else None


def _version(scrape: Scrape) -> str | None:
    found = scrape.series("cxr_build_info")
    return (found[0].label("version") or None) if found else None


def _intake(prev: Scrape, cur: Scrape) -> Intake | None:
    if not cur.up:
        return None
    name = "cxr_edge_requests_total"
    now = totals([cur], name, ["status"], handler="webhook")
    per_second = rates(prev, cur, name, ["status"], handler="webhook")
    answers = {key[0]: Counted(total, None if per_second is None
                                else per_second.get(key, 0.0))
               for key, total in sorted(now.items())}
    ready = cur.value("cxr_edge_broker_ready")
    return Intake(
        accepted_per_second=None if per_second is None else per_second.get(("202",), 0.0),
        answers=answers,
        in_flight=cur.value("cxr_edge_requests_in_flight"),
        broker_ready=None if ready is None else ready >= 1,
    )


def _channels(prev: Snapshot, cur: Snapshot, up: list[Scrape],
              latency_threshold: float | None) -> dict[str, ChannelFigures]:
    events = totals(up, "cxr_events_total", ["channel", "outcome"])
    events_rate = worker_rates(prev, cur, "cxr_events_total", ["channel", "outcome"])
    names = {k[0] for k in events} | {k[0] for k in totals(up, f"{LATENCY}_count", ["channel"])}
    pairs = [(b, n) for b, n in scrape_pairs(prev, cur) if b.up and n.up and n.at > b.at]
    out: dict[str, ChannelFigures] = {}
    for channel in sorted(names - {UNKNOWN_CHANNEL}):
        window: dict[float, float] = {}
        for before, now in pairs:
            for le, count in window_buckets(before, now, LATENCY, channel=channel).items():
                window[le] = window.get(le, 0.0) + count
        in_window = max(window.values()) if pairs and window else None
        p50 = histogram_quantile(0.5, window)
        p99 = histogram_quantile(0.99, window)
        out[channel] = ChannelFigures(
            normalized_total=events.get((channel, "normalized"), 0.0),
            normalized_per_second=None if events_rate is None
            else events_rate.get((channel, "normalized"), 0.0),
            duplicates_per_second=None if events_rate is None
            else events_rate.get((channel, "duplicate"), 0.0),
            events_in_window=in_window,
            p50_seconds=p50,
            p99_seconds=p99,
            latency_ok=None if p99 is None or latency_threshold is None
            else p99 <= latency_threshold,
        )
    return out


def _lag(up: list[Scrape], freshness_threshold: float | None) -> Lag:
    seconds = _max(s.value for w in up for s in w.series("cxr_consumer_lag_seconds"))
    per_partition: dict[tuple[str, str], float] = {}
    for worker in up:
        for s in worker.series("cxr_consumer_lag_records"):
            key = (s.label("topic"), s.label("partition"))
            per_partition[key] = max(per_partition.get(key, s.value), s.value)
    records = sum(per_partition.values()) if per_partition else None
    ok = None if seconds is None or freshness_threshold is None else (
        seconds <= freshness_threshold)
    return Lag(seconds, records, ok)


def figures(prev: Snapshot, cur: Snapshot, thresholds: Thresholds) -> Status:
    """Everything the screen shows, from two snapshots of the same targets (the same
    snapshot twice gives totals and gauges, and no rates)."""
    up = [w for w in cur.workers if w.up]
    dead_total = totals(up, "cxr_dead_letters_total", ["reason"])
    dead_rate = worker_rates(prev, cur, "cxr_dead_letters_total", ["reason"])
    missing = totals(up, "cxr_missing_fields_total", ["channel", "field"])
    missing_rate = worker_rates(prev, cur, "cxr_missing_fields_total", ["channel", "field"])
    drift = [Drift(k[0], k[1], v, None if missing_rate is None else missing_rate.get(k, 0.0))
             for k, v in missing.items() if v > 0]
    drift.sort(key=lambda d: (-d.total, d.channel, d.field))
    failed_before = {s.url: s.error for s in prev.targets if not s.up}

    def target(role: str, s: Scrape, partitions: float | None = None) -> Target:
        error = s.error or (f"first scrape: {failed_before[s.url]}"
                            if s.url in failed_before else None)
        return Target(role, s.url, error is None, error, _version(s), partitions)

    targets = [target("edge", cur.edge)]
    targets += [target("worker", w, w.value("cxr_worker_assigned_partitions"))
                for w in cur.workers]
    return Status(
        window_seconds=max(0.0, cur.at - prev.at),
        thresholds=thresholds,
        targets=targets,
        intake=_intake(prev.edge, cur.edge),
        channels=_channels(prev, cur, up, thresholds.latency_seconds),
        lag=_lag(up, thresholds.freshness_seconds),
        dead_letters={k[0]: Counted(v, None if dead_rate is None else dead_rate.get(k, 0.0))
                      for k, v in sorted(dead_total.items())},
        drift=drift,
        members=_max(s.value for w in up for s in w.series("cxr_consumer_group_members")),
        down=[t.url for t in targets if not t.up],
    )
