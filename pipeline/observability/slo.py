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

from pipeline.mapping.errors import MappingError

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
    severity: Literal["page", "ticket"]
    burn_rate: float = Field(gt=0)
    long_window: Duration
    short_window: Duration


class LagAge(_Strict):
    seconds: float = Field(gt=0)
    for_: Duration = Field("2m", alias="for")


class For(_Strict):
    for_: Duration = Field("1m", alias="for")


class DeadLetters(_Strict):
    window: Duration = "15m"
    more_than: float = Field(0, ge=0)


class Drift(_Strict):
    window: Duration = "15m"
    baseline: Duration = "1d"


class Alerts(_Strict):
    expected_workers: int = Field(1, ge=1, le=1024)
    lag_age: LagAge
    edge_down: For = For()
    edge_not_ready: For = For()
    workers_below_expected: For = For()
    dead_letters: DeadLetters = DeadLetters()
    drift: Drift = Drift()


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
    for a in slo_file.burn_rate_alerts:
        if seconds(a.short_window) >= seconds(a.long_window):
            raise ValueError(f"burn_rate_alerts: short_window {a.short_window} must be "
                             f"shorter than long_window {a.long_window}")


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
