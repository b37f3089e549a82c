"""The SLO file (`schemas/slos.json`): what operators edit instead of PromQL.

Each SLO names a `kind` whose SLI is fixed (see `pipeline.observability.rules`); the file
chooses targets, windows, thresholds and the alerting policy. A mistake stops whoever reads
it (the edge, a worker, `observability generate`) with the file and field named.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from cxone_router.mapping.errors import MappingError

SLO_FILE = "slos.json"
_DURATION = re.compile(r"(\d+)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def _prometheus_duration(value: str) -> str:
    if not _DURATION.fullmatch(value) or int(value[:-1]) == 0:
        raise ValueError("a Prometheus duration such as 5m, 6h or 30d (one unit)")
    return value


Duration = Annotated[str, AfterValidator(_prometheus_duration)]


def seconds(duration: str) -> int:
    match = _DURATION.fullmatch(duration)
    assert match is not None, duration
    return int(match[1]) * _SECONDS[match[2]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Slo(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    kind: Literal["availability", "latency", "freshness", "dead_letters"]
    target: float = Field(gt=0, lt=100, description="percent of good events (or time)")
    window: Duration = "30d"
    threshold_seconds: float | None = Field(None, gt=0, le=3600)
    description: str = ""

    @property
    def error_budget(self) -> float:
        """The share of bad events the target allows (0.001 for 99.9 %)."""
        return round(1 - self.target / 100, 12)

    @property
    def per_channel(self) -> bool:
        return self.kind == "latency"

    @property
    def title(self) -> str:
        return self.name.replace("-", " ").capitalize()

    @property
    def alert_name(self) -> str:
        return "Cxr" + "".join(p.capitalize() for p in self.name.split("-")) + "BudgetBurn"


class BurnRateAlert(_Strict):
    """One pair of windows of the burn-rate policy. The burn rate is not written down: it
    follows from the share of the SLO window's budget that may go in `long_window`
    (the workbook's 2 % in 1 h of 30 days is 14.4x; the same 2 % of a 7-day budget, 3.36x).
    `min_bad_events` is the minimum traffic: the alert also needs that many bad events in
    `long_window` (minutes of bad time, `min_bad_minutes`, for a freshness SLO), so a
    quiet channel's one slow event or one 503 does not page."""

    severity: Literal["page", "ticket"]
    budget_spent: float = Field(gt=0, le=1, description="share of the SLO window's error "
                                "budget spent over long_window")
    long_window: Duration
    short_window: Duration
    min_bad_events: int = Field(1, ge=1)
    min_bad_minutes: float = Field(1, gt=0)

    def burn_rate(self, slo: Slo) -> float:
        """How many times faster than `slo.window` allows the budget burns when
        `budget_spent` of it goes in `long_window`."""
        return round(self.budget_spent * seconds(slo.window) / seconds(self.long_window), 6)

    def min_bad(self, slo: Slo) -> float:
        return self.min_bad_minutes if slo.kind == "freshness" else self.min_bad_events


class LagAge(_Strict):
    seconds: float = Field(gt=0)
    for_: Duration = Field("2m", alias="for")


class For(_Strict):
    for_: Duration = Field("1m", alias="for")


class DeadLetters(_Strict):
    """A ticket when dead letters keep coming: more than `per_minute` (averaged over
    `window`) for `for`. One dead letter alone does not make a rate that lasts."""

    window: Duration = "15m"
    per_minute: float = Field(0.2, ge=0)
    for_: Duration = Field("10m", alias="for")


class Intake(_Strict):
    """Webhooks accepted (2xx) falling to nothing over `window` after at least
    `min_events` in the `baseline` before it, or below `week_ratio` of the same `baseline`
    a week earlier (when that had `min_events`)."""

    window: Duration = "15m"
    baseline: Duration = "1h"
    min_events: int = Field(60, ge=1)
    week_ratio: float = Field(0.25, gt=0, lt=1)
    for_: Duration = Field("5m", alias="for")


class Share(_Strict):
    """A share of webhooks (or publishes) over `window`, with at least `min_events` of
    them, for `for`."""

    share: float = Field(gt=0, le=1)
    window: Duration = "10m"
    min_events: int = Field(20, ge=1)
    for_: Duration = Field("5m", alias="for")


class LagChecks(_Strict):
    """A worker whose last lag check is older than `stale_after`."""

    stale_after: Duration = "1m"
    for_: Duration = Field("2m", alias="for")


class Drift(_Strict):
    window: Duration = "15m"
    baseline: Duration = "1d"


class Alerts(_Strict):
    expected_workers: int = Field(1, ge=1, le=1024)
    lag_age: LagAge
    edge_down: For = For()
    edge_not_ready: For = For()
    workers_below_expected: For = For()
    worker_down: For = For(**{"for": "2m"})
    dead_letters: DeadLetters = DeadLetters()
    drift: Drift = Drift()
    intake: Intake = Intake()
    auth_failures: Share = Share(share=0.5)
    publish_failures: Share = Share(**{"share": 0.05, "window": "5m", "min_events": 5,
                                       "for": "2m"})
    lag_checks: LagChecks = LagChecks()
    raw_under_replicated: For = For(**{"for": "5m"})
    raw_under_min_isr: For = For(**{"for": "1m"})


class Scrape(_Strict):
    edge_job: str = "cxr-edge"
    worker_job: str = "cxr-worker"


class SloFile(_Strict):
    comment: str = Field("", alias="$comment")
    slos: list[Slo] = Field(min_length=1)
    burn_rate_alerts: list[BurnRateAlert] = Field(min_length=1)
    alerts: Alerts
    scrape: Scrape = Scrape()
    runbook: str = "docs/runbook.md"

    @cached_property
    def windows(self) -> tuple[str, ...]:
        """Every window a burn-rate alert looks at, shortest first."""
        found = {w for a in self.burn_rate_alerts for w in (a.long_window, a.short_window)}
        return tuple(sorted(found, key=seconds))

    def latency_thresholds(self) -> tuple[float, ...]:
        """Thresholds the latency histograms must have as bucket bounds, exactly."""
        return tuple(sorted({s.threshold_seconds for s in self.slos
                             if s.kind == "latency" and s.threshold_seconds is not None}))

    def of_kind(self, kind: str) -> list[Slo]:
        return [s for s in self.slos if s.kind == kind]


def _check(slo_file: SloFile) -> None:
    names = [s.name for s in slo_file.slos]
    if len(set(names)) != len(names):
        raise ValueError(f"slos: names must be unique, got {names}")
    for s in slo_file.slos:
        if s.kind in ("latency", "freshness") and s.threshold_seconds is None:
            raise ValueError(f"slos[{s.name}]: a {s.kind} SLO needs threshold_seconds")
        if s.kind in ("availability", "dead_letters") and s.threshold_seconds is not None:
            raise ValueError(f"slos[{s.name}]: a {s.kind} SLO takes no threshold_seconds")
    for i, a in enumerate(slo_file.burn_rate_alerts):
        if seconds(a.short_window) >= seconds(a.long_window):
            raise ValueError(f"burn_rate_alerts: short_window {a.short_window} must be "
                             f"shorter than long_window {a.long_window}")
        for s in slo_file.slos:
            if seconds(a.long_window) > seconds(s.window):
                raise ValueError(f"burn_rate_alerts.{i}: long_window {a.long_window} is "
                                 f"longer than slos[{s.name}]'s window {s.window}")
            if a.burn_rate(s) * s.error_budget >= 1:
                raise ValueError(
                    f"burn_rate_alerts.{i}: spending {a.budget_spent:g} of slos[{s.name}]'s "
                    f"budget in {a.long_window} takes a burn rate of {a.burn_rate(s):g}, "
                    f"which its error budget ({s.error_budget:g}) can never reach: lower "
                    "budget_spent or lengthen long_window")


def parse_slos(data: bytes, where: str) -> SloFile:
    try:
        slo_file = SloFile.model_validate(orjson.loads(data))
        _check(slo_file)
    except orjson.JSONDecodeError as exc:
        raise MappingError(f"{where}: not JSON: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise MappingError(f"{where}: {problems}") from None
    except ValueError as exc:
        raise MappingError(f"{where}: {exc}") from None
    return slo_file


def load_slos(schemas_dir: Path) -> SloFile:
    path = schemas_dir / SLO_FILE
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the SLO file: {exc.strerror}") from None
    return parse_slos(data, str(path))
