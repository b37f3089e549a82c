"""The status screen, drawn with rich."""

from __future__ import annotations

from datetime import datetime

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cxone_router.observability.status.figures import Status

DRIFT_ROWS = 10  # the screen shows the most frequent; --json has them all


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}/s"


def _count(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"


def _duration(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:,.2f} s"


def _judged(text: str, ok: bool | None) -> Text:
    return Text(text, style="" if ok is None else "green" if ok else "bold red")


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    return table


def _intake_line(status: Status) -> Text:
    line = Text("intake  ", style="bold")
    edge = status.targets[0]
    intake = status.intake
    if intake is None:
        return line.append(f"edge down ({edge.error})", style="bold red")
    line.append(f"accepted {_rate(intake.accepted_per_second)}")
    answers = [f"{code} {_rate(c.per_second)} ({_count(c.total)})"
               for code, c in intake.answers.items() if c.total > 0]
    line.append("   answers " + (", ".join(answers) or "none"))
    line.append(f"   in flight {_count(intake.in_flight)}   broker ")
    ready = intake.broker_ready
    line.append_text(_judged("-" if ready is None else "ready" if ready else "NOT READY", ready))
    return line


def _channels_table(status: Status) -> Table:
    threshold = status.thresholds.latency_seconds
    slo = f" (SLO <= {_duration(threshold)})" if threshold is not None else ""
    table = _table("channels", "channel", "events", "p50", f"p99{slo}", "duplicates")
    for name, c in status.channels.items():
        table.add_row(name, _rate(c.normalized_per_second), _duration(c.p50_seconds),
                      _judged(_duration(c.p99_seconds), c.latency_ok),
                      _rate(c.duplicates_per_second))
    if not status.channels:
        table.add_row("-", "-", "-", "-", "-")
    return table


def _lag_line(status: Status) -> Text:
    lag, threshold = status.lag, status.thresholds.freshness_seconds
    line = Text("lag     ", style="bold")
    line.append("oldest unprocessed ")
    line.append_text(_judged(_duration(lag.seconds), lag.ok))
    if threshold is not None:
        line.append(f" (SLO <= {_duration(threshold)})")
    return line.append(f"   {_count(lag.records)} records behind")


def _dead_letters(status: Status) -> RenderableType:
    found = {k: v for k, v in status.dead_letters.items() if v.total > 0}
    if not found:
        return Text("dead letters  none", style="bold")
    table = _table("dead letters", "reason", "total", "rate")
    for reason, c in found.items():
        table.add_row(Text(reason, style="yellow"), _count(c.total), _rate(c.per_second))
    return table


def _drift(status: Status) -> RenderableType:
    if not status.drift:
        return Text("drift   no mapped field missing", style="bold")
    table = _table(f"drift: {len(status.drift)} channel/field pairs missing", "channel",
                   "field", "total", "rate")
    for d in status.drift[:DRIFT_ROWS]:
        table.add_row(d.channel, Text(d.field, style="yellow"), _count(d.total),
                      _rate(d.per_second))
    if len(status.drift) > DRIFT_ROWS:
        table.caption = f"... and {len(status.drift) - DRIFT_ROWS} more (--json lists all)"
        table.caption_justify = "left"
    return table


def _workers(status: Status) -> Table:
    table = _table(f"targets (group members: {_count(status.members)})", "role", "target",
                   "state", "parts", "version")
    table.columns[1].overflow = "fold"  # a URL is wrapped, never cut
    table.columns[1].justify = table.columns[2].justify = "left"
    for t in status.targets:
        state = _judged("up" if t.up else f"DOWN: {t.error}", t.up)
        partitions = _count(t.assigned_partitions) if t.role == "worker" else ""
        table.add_row(t.role, t.url, state, partitions, t.version or "-")
    return table


def render(status: Status, now: datetime | None = None) -> RenderableType:
    stamp = (now or datetime.now()).strftime("%H:%M:%S")
    title = Text(f"cxone-router status  {stamp}  window {status.window_seconds:.1f} s",
                 style="bold")
    sections = [_channels_table(status), _dead_letters(status), _drift(status),
                _workers(status)]
    blank_before = [part for section in sections for part in (Text(), section)]
    return Group(title, Text(), _intake_line(status), _lag_line(status), *blank_before)
