"""Prometheus recording rules and alerts, generated from the SLO file.

Recording rules, per SLO (and per channel for latency), for every window the burn-rate
policy looks at and for the SLO's own window:
- `cxr_slo:sli_error:ratio_rate<w>`: the share of bad events (or time) over `w`;
- `cxr_slo:burn_rate:<w>`: that share divided by the error budget (1 = spending the budget
  exactly as fast as the window allows);
- `cxr_slo:error_budget:remaining_ratio`: what is left of the budget over the SLO window.
Alerts: multiwindow, multi-burn-rate alerts as the Google SRE workbook gives them (page
above 14.4 over 1 h and 5 m, or 6 over 6 h and 30 m; ticket above 1 over 3 d and 6 h: the
policy is data, in the SLO file), and operational alerts. Every alert has a summary, a
description and a `runbook` annotation pointing at its section of the runbook.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from pipeline.metrics import le
from pipeline.observability.slo import Slo, SloFile

SLI_ERROR = "cxr_slo:sli_error:ratio_rate{window}"
BURN_RATE = "cxr_slo:burn_rate:{window}"
BUDGET_REMAINING = "cxr_slo:error_budget:remaining_ratio"
FRESHNESS_BREACH = "cxr_slo:freshness_breach:bool"
RULES_FILE = "compose/prometheus/cxr-rules.yml"


def _number(value: float) -> str:
    return f"{value:g}"


def sli_error(slo: Slo, window: str) -> str:
    """PromQL for the share of bad events (or time) over `window`."""
    if slo.kind == "availability":
        return (f'sum(rate(cxr_edge_requests_total{{handler="webhook",status=~"5.."}}[{window}]))'
                f' / sum(rate(cxr_edge_requests_total{{handler="webhook"}}[{window}]))')
    if slo.kind == "latency":
        assert slo.threshold_seconds is not None
        bound = le(slo.threshold_seconds)
        return (f"1 - (sum by (channel) (rate(cxr_end_to_end_latency_seconds_bucket"
                f'{{le="{bound}"}}[{window}])) / sum by (channel) '
                f"(rate(cxr_end_to_end_latency_seconds_count[{window}])))")
    if slo.kind == "freshness":
        return f'avg_over_time({FRESHNESS_BREACH}{{slo="{slo.name}"}}[{window}])'
    if slo.kind == "dead_letters":
        return (f'sum(rate(cxr_events_total{{outcome="dead_lettered"}}[{window}]))'
                f' / sum(rate(cxr_events_total{{outcome!="duplicate"}}[{window}]))')
    raise ValueError(f"unknown SLO kind {slo.kind!r}")


def _recordings(slo_file: SloFile) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for slo in slo_file.slos:
        labels = {"slo": slo.name}
        if slo.kind == "freshness":
            rules.append({"record": FRESHNESS_BREACH,
                          "expr": f"max(cxr_consumer_lag_seconds) > bool "
                                  f"{_number(slo.threshold_seconds or 0)}",
                          "labels": labels})
        windows = list(dict.fromkeys([*slo_file.windows, slo.window]))
        for window in windows:
            rules.append({"record": SLI_ERROR.format(window=window),
                          "expr": sli_error(slo, window), "labels": labels})
        for window in windows:
            rules.append({"record": BURN_RATE.format(window=window),
                          "expr": f'{SLI_ERROR.format(window=window)}{{slo="{slo.name}"}} / '
                                  f"{_number(slo.error_budget)}",
                          "labels": labels})
        rules.append({"record": BUDGET_REMAINING,
                      "expr": f'1 - {BURN_RATE.format(window=slo.window)}{{slo="{slo.name}"}}',
                      "labels": labels})
    return rules


def runbook_anchor(alert: str) -> str:
    """The GitHub anchor of a `## <alert>` heading."""
    return re.sub(r"[^a-z0-9-]", "", alert.lower())


def _alert(slo_file: SloFile, name: str, expr: str, severity: str, summary: str,
           description: str, for_: str | None = None,
           labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_:
        rule["for"] = for_
    rule["labels"] = {"severity": severity, **(labels or {})}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook": f"{slo_file.runbook}#{runbook_anchor(name)}",
    }
    return rule


def _burn_alerts(slo_file: SloFile) -> list[dict[str, Any]]:
    alerts = []
    for slo in slo_file.slos:
        where = " on channel {{ $labels.channel }}" if slo.per_channel else ""
        for severity in ("page", "ticket"):
            policy = [a for a in slo_file.burn_rate_alerts if a.severity == severity]
            if not policy:
                continue
            selector = f'{{slo="{slo.name}"}}'
            conditions = [
                f"({BURN_RATE.format(window=a.long_window)}{selector} > {_number(a.burn_rate)}"
                f" and {BURN_RATE.format(window=a.short_window)}{selector} > "
                f"{_number(a.burn_rate)})"
                for a in policy
            ]
            pairs = " or ".join(f"{_number(a.burn_rate)}x over {a.long_window} and "
                                f"{a.short_window}" for a in policy)
            alerts.append(_alert(
                slo_file, slo.alert_name, "\n or ".join(conditions), severity,
                summary=f"{slo.title}{where}: error budget burning fast"
                if severity == "page" else f"{slo.title}{where}: error budget burning",
                description=(
                    f"{slo.description} Target {_number(slo.target)}% over {slo.window}; "
                    f"the budget is being spent faster than the policy allows ({pairs}). "
                    f"At this rate it lasts less than the window."),
                labels={"slo": slo.name}))
    return alerts


def _operational_alerts(slo_file: SloFile) -> list[dict[str, Any]]:
    a = slo_file.alerts
    edge, worker = slo_file.scrape.edge_job, slo_file.scrape.worker_job
    freshness = next((s for s in slo_file.of_kind("freshness")), None)
    lag_threshold = _number(a.lag_age.seconds)
    return [
        _alert(slo_file, "CxrEdgeDown",
               f'up{{job="{edge}"}} == 0 or absent(up{{job="{edge}"}})', "page",
               "The edge is down or not scraped",
               f"Prometheus cannot scrape the edge (job {edge}): CXone's webhooks are not "
               "being accepted, and CXone retries only a few times.",
               a.edge_down.for_),
        _alert(slo_file, "CxrEdgeNotReady", "cxr_edge_broker_ready == 0", "page",
               "The edge cannot reach the broker",
               "The edge answers 503 to webhooks: the broker does not answer or the raw topic "
               "is missing. Senders retry; events are not lost, but they are not accepted.",
               a.edge_not_ready.for_),
        _alert(slo_file, "CxrConsumerLagHigh",
               f"max by (group, topic, partition) (cxr_consumer_lag_seconds) > {lag_threshold}",
               "page",
               "Partition {{ $labels.partition }} of {{ $labels.topic }} is "
               "{{ $value | humanizeDuration }} behind",
               f"The oldest raw record the worker group has not processed is older than "
               f"{lag_threshold} s"
               + (f" (the freshness SLO's threshold is "
                  f"{_number(freshness.threshold_seconds or 0)} s)" if freshness else "")
               + ": workers are stuck, too few, or too slow for the traffic.",
               a.lag_age.for_),
        _alert(slo_file, "CxrWorkersBelowExpected",
               f"(max(cxr_consumer_group_members) or on() vector(0)) < {a.expected_workers}",
               "page",
               "Fewer workers in the group than expected",
               f"The worker group has {{{{ $value }}}} members; {a.expected_workers} expected. "
               "The partitions of missing workers are shared out among the rest (slower), "
               "or nobody processes them.",
               a.workers_below_expected.for_),
        _alert(slo_file, "CxrWorkerDown", f'up{{job="{worker}"}} == 0', "ticket",
               "A worker's metrics cannot be scraped",
               "Prometheus cannot scrape {{ $labels.instance }} (job " + worker + "): the "
               "worker is down, stuck, or its metrics port changed.", "2m"),
        _alert(slo_file, "CxrDeadLetters",
               f"sum by (reason) (increase(cxr_dead_letters_total[{a.dead_letters.window}])) "
               f"> {_number(a.dead_letters.more_than)}", "ticket",
               "Events dead-lettered as {{ $labels.reason }}",
               f"{{{{ $value | humanize }}}} events went to the dead-letter topic as "
               f"{{{{ $labels.reason }}}} in the last {a.dead_letters.window}."),
        _alert(slo_file, "CxrSchemaDrift",
               f"sum by (channel, field) (increase(cxr_missing_fields_total"
               f"[{a.drift.window}])) > 0 unless on (channel, field) "
               f"(sum by (channel, field) (increase(cxr_missing_fields_total"
               f"[{a.drift.baseline}] offset {a.drift.window})) > 0)", "ticket",
               "{{ $labels.channel }} records started missing {{ $labels.field }}",
               f"Over the last {a.drift.window}, {{{{ $labels.channel }}}} records arrived "
               f"without {{{{ $labels.field }}}}, which the {a.drift.baseline} before had "
               "every time: CXone moved or dropped the field. Records still flow, with the "
               "field listed in missingFields."),
    ]


def rules(slo_file: SloFile) -> dict[str, Any]:
    return {"groups": [
        {"name": "cxr-slo-recordings", "rules": _recordings(slo_file)},
        {"name": "cxr-slo-alerts", "rules": _burn_alerts(slo_file)},
        {"name": "cxr-operations", "rules": _operational_alerts(slo_file)},
    ]}


def alert_names(slo_file: SloFile) -> list[str]:
    return list(dict.fromkeys(
        r["alert"] for g in rules(slo_file)["groups"] for r in g["rules"] if "alert" in r))


class _Dumper(yaml.SafeDumper):
    """Plain YAML as people write it: no anchors, multi-line strings as `|` blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value,
                                   style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_str)


def to_yaml(document: dict[str, Any], header: str) -> str:
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=10**6,
                     allow_unicode=True)
    return header + body


def files(slo_file: SloFile, header: str) -> dict[str, str]:
    return {RULES_FILE: to_yaml(rules(slo_file), header)}
