"""The SLA overview: first "is something wrong now" (firing pages and tickets, the burn
rate of every SLO now, webhooks accepted against events processed), then error budgets,
throughput, latency against its SLO, SLIs and burn rates. Firing alerts are also drawn as
annotations on every graph, and each panel links its runbook section.

Targets, thresholds, windows and burn-rate levels come from the SLO file, so editing it
and generating again changes the panels.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import dashboard as model

from cxone_router.observability.dashboards.common import (
    CHANNEL,
    RATE,
    PanelBuilder,
    Section,
    Target,
    build_dashboard,
    datasource,
    histogram_quantile,
    number,
    stat_panel,
    timeseries_panel,
)
from cxone_router.observability.rules import (
    ACCEPTED,
    BUDGET_REMAINING,
    BURN_RATE,
    FAILED,
    runbook_anchor,
    sli_error,
)
from cxone_router.observability.slo import Slo, SloFile

UID = "cxr-sla-overview"
TITLE = "cxone-router / SLA overview"
LATENCY = "cxr_end_to_end_latency_seconds"


def _selector(slo: Slo) -> str:
    return f'{{slo="{slo.name}",{CHANNEL}}}' if slo.per_channel else f'{{slo="{slo.name}"}}'


def _objective(slo: Slo) -> str:
    return f"{number(slo.target)} % over {slo.window}"


FIRING = 'ALERTS{alertstate="firing",alertname=~"Cxr.*"}'


def runbook(slo_file: SloFile, panel: PanelBuilder, heading: str) -> PanelBuilder:
    """`panel` with a link to the runbook's section `heading` (the alerts' own link)."""
    return panel.links([dash.DashboardLink(f"Runbook: {heading}")
                        .type(model.DashboardLinkType.LINK)
                        .url(f"{slo_file.runbook}#{runbook_anchor(heading)}")
                        .target_blank(True)])


def firing(slo_file: SloFile) -> PanelBuilder:
    return runbook(slo_file, stat_panel(
        "Firing alerts",
        "Alerts firing now, by severity: a page means act now, a ticket within a working "
        "day. Which ones: the red marks on the graphs (hover), or Alertmanager's UI.",
        "none",
        [Target(label, f'count({FIRING[:-1]},severity="{severity}"}}) or vector(0)')
         for label, severity in (("pages", "page"), ("tickets", "ticket"))],
        steps=[(1, "red")]), "Runbook: cxone-router alerts")


def _now_levels(slo_file: SloFile) -> list[tuple[float, str]]:
    """The burn-rate colours, when every SLO shares them (the same window)."""
    levels = {tuple(_burn_levels(slo_file, s)) for s in slo_file.slos}
    return list(levels.pop()) if len(levels) == 1 else [(1, "orange")]


def burn_now(slo_file: SloFile) -> PanelBuilder:
    window = min((a.long_window for a in slo_file.burn_rate_alerts if a.severity == "page"),
                 key=lambda w: slo_file.windows.index(w), default=slo_file.windows[0])
    targets = [Target(s.title + (" (worst channel)" if s.per_channel else ""),
                      f'max({BURN_RATE.format(window=window)}{{slo="{s.name}"}})')
               for s in slo_file.slos]
    return runbook(slo_file, stat_panel(
        f"Burn rate now ({window})",
        f"How many times faster than its window allows each SLO spends its error budget, "
        f"over the last {window}: 1 spends it exactly by the end of the window; orange "
        "and red are the ticket's and the page's thresholds (a page also needs a minimum "
        "of bad events). Empty: no traffic in the window.", "none", targets,
        steps=_now_levels(slo_file)), "Burn-rate alerts")


def intake(slo_file: SloFile) -> PanelBuilder:
    return runbook(slo_file, timeseries_panel(
        "Intake versus processed",
        "Webhooks the edge accepted (2xx) against raw events the workers handled, per "
        "second; refused are the answers that lose the sender's event (5xx, 429, 499). "
        "Accepted falling to nothing: CXone stopped sending (CxrWebhookIntakeStopped); "
        "processed falling behind accepted: workers stuck or too few (lag).", "reqps",
        [Target("accepted", f"sum(rate({ACCEPTED}[{RATE}]))"),
         Target("processed", f"sum(rate(cxr_events_total[{RATE}]))"),
         Target("refused", f"sum(rate({FAILED}[{RATE}]))", dashed=True)]),
        "CxrWebhookIntakeStopped")


def throughput() -> PanelBuilder:
    return timeseries_panel(
        "Throughput by channel",
        "Events normalized and published to their channel topic per second, by channel "
        "(duplicates and dead letters excluded).", "ops",
        [Target("{{channel}}", f"sum by (channel) (rate(cxr_events_total"
                               f'{{outcome="normalized",{CHANNEL}}}[{RATE}]))')])


def latency(slo_file: SloFile) -> PanelBuilder:
    slos = slo_file.of_kind("latency")
    quantiles = {"p50": 0.5}
    quantiles.update({f"p{number(s.target)}": s.target / 100 for s in slos} or {"p99": 0.99})
    targets = [Target(f"{label} {{{{channel}}}}",
                      histogram_quantile(q, LATENCY, "le, channel", CHANNEL))
               for label, q in sorted(quantiles.items(), key=lambda item: item[1])]
    objectives = "; ".join(f"{s.title}: {_objective(s)} of events within "
                           f"{number(s.threshold_seconds or 0)} s" for s in slos)
    return timeseries_panel(
        "End-to-end latency by channel",
        "From the edge receiving a webhook until its channel and fan-out records are "
        "acknowledged, per channel. The dashed line is the latency SLO's threshold"
        + (f" ({objectives})." if objectives else "."), "s", targets,
        steps=[(threshold, "red") for threshold in slo_file.latency_thresholds()])


def error_budgets(slo_file: SloFile) -> PanelBuilder:
    targets = [Target(f"{s.title} {{{{channel}}}}" if s.per_channel else s.title,
                      f"{BUDGET_REMAINING}{_selector(s)}") for s in slo_file.slos]
    return stat_panel(
        "Error budget remaining",
        "What is left of each SLO's error budget over its window (latency per channel): "
        "100 % untouched, 0 % spent, below 0 overspent. "
        + "; ".join(f"{s.title}: {_objective(s)}" for s in slo_file.slos) + ".",
        "percentunit", targets, base="red", steps=[(0, "orange"), (0.25, "green")])


def _burn_levels(slo_file: SloFile, slo: Slo) -> list[tuple[float, str]]:
    levels: dict[float, str] = {}
    for alert in sorted(slo_file.burn_rate_alerts, key=lambda a: a.severity == "page"):
        levels[alert.burn_rate(slo)] = "red" if alert.severity == "page" else "orange"
    return sorted(levels.items())


def burn_rate(slo_file: SloFile, slo: Slo) -> PanelBuilder:
    long_windows = {a.long_window for a in slo_file.burn_rate_alerts}
    targets = []
    for window in slo_file.windows:
        metric = f"{BURN_RATE.format(window=window)}{_selector(slo)}"
        targets.append(Target(f"{window} (worst channel)" if slo.per_channel else window,
                              f"max({metric})" if slo.per_channel else metric,
                              dashed=window not in long_windows))
    policy = "; ".join(f"{a.severity} above {number(a.burn_rate(slo))}x over {a.long_window} "
                       f"and {a.short_window}" for a in slo_file.burn_rate_alerts)
    return timeseries_panel(
        f"Burn rate: {slo.title}",
        f"How fast the {slo.name} error budget ({_objective(slo)}) is being spent, over "
        "each window of the burn-rate policy: 1 spends it exactly by the end of the window. "
        f"Dashed lines: the short windows. Thresholds: {policy}."
        + (" Select one channel to see it alone." if slo.per_channel else ""),
        "none", targets, steps=_burn_levels(slo_file, slo))


def indicator(slo: Slo) -> PanelBuilder | None:
    """The SLI of an SLO over the rate interval, against its target or threshold."""
    if slo.kind == "freshness":
        threshold = slo.threshold_seconds or 0
        return timeseries_panel(
            f"{slo.title}: oldest unprocessed record",
            f"Age of the oldest raw record the worker group has not processed yet (max over "
            f"topics and partitions). The SLO: {_objective(slo)} of the time under "
            f"{number(threshold)} s (dashed line).", "s",
            [Target("oldest unprocessed record", "max(cxr_consumer_lag_seconds)")],
            steps=[(threshold, "red")])
    if slo.kind in ("availability", "dead_letters"):
        what = ("Share of webhooks the edge answered 2xx rather than 5xx, 429, 499 or a "
                "broker-refused 413"
                if slo.kind == "availability"
                else "Share of events (duplicates aside) that reached their channel topic "
                     "rather than the dead-letter topic")
        return timeseries_panel(
            f"{slo.title}", f"{what}. The SLO: {_objective(slo)} (dashed line).",
            "percentunit", [Target(slo.title, f"1 - ({sli_error(slo, RATE)})")],
            base="red", steps=[(round(slo.target / 100, 10), "green")], soft_min=None)
    return None


def dashboard(slo_file: SloFile) -> model.Dashboard:
    indicators = [runbook(slo_file, p, s.alert_name) for p, s in
                  ((indicator(s), s) for s in slo_file.slos) if p is not None]
    return build_dashboard(
        UID, TITLE,
        "Is something wrong now, and is cxone-router meeting its SLOs? Generated from "
        "schemas/slos.json.",
        [
            Section("Now", [firing(slo_file), burn_now(slo_file), intake(slo_file)],
                    per_line=3, height=6),
            Section("Error budgets", [runbook(slo_file, error_budgets(slo_file),
                                              "Burn-rate alerts")], per_line=1, height=6),
            Section("Traffic and latency", [
                runbook(slo_file, throughput(), "CxrProcessingStalled"),
                runbook(slo_file, latency(slo_file), "CxrEndToEndLatencyBudgetBurn")]),
            Section("Service level indicators", indicators, per_line=3),
            Section("Burn rates", [runbook(slo_file, burn_rate(slo_file, s), s.alert_name)
                                   for s in slo_file.slos]),
        ],
        annotations=[dash.AnnotationQuery().name("Firing alerts").datasource(datasource())
                     .enable(True).icon_color("red").expr(FIRING)],
    )
