"""The generated rules under promtool: each alert fires when it should and stays silent when
it should, over synthetic series (`promtool test rules`).

The scenarios are written against the shipped SLO file: its targets and the workbook's
burn-rate policy (page at 14.4x over 1 h and 5 m or 6x over 6 h and 30 m, ticket at 1x over
3 d and 6 h), asserted first so a change of policy points here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.observability import rules
from pipeline.observability.prometheus import find_binary
from pipeline.observability.slo import SloFile, load_slos

SLOS = load_slos(Path("schemas"))
RULES = rules.rules(SLOS)
ALERTS = {r["alert"]: r for g in RULES["groups"] for r in g["rules"] if "alert" in r}
BURN = {(r["alert"], r["labels"]["severity"]): r for g in RULES["groups"]
        for r in g["rules"] if "alert" in r and "slo" in r["labels"]}
ONSET = 360  # minutes of healthy traffic before trouble starts


@pytest.fixture(scope="module")
def promtool() -> str:
    return find_binary("promtool")


def test_the_shipped_policy_is_the_workbooks() -> None:
    policy = [(a.severity, a.burn_rate, a.long_window, a.short_window)
              for a in SLOS.burn_rate_alerts]
    assert policy == [("page", 14.4, "1h", "5m"), ("page", 6, "6h", "30m"),
                      ("ticket", 1, "3d", "6h")]
    assert {s.name: s.target for s in SLOS.slos} == {
        "edge-availability": 99.9, "end-to-end-latency": 99, "freshness": 99.9,
        "dead-letters": 99.9}


def test_promtool_accepts_the_generated_rules(promtool: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(rules.to_yaml(RULES, ""))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in RULES['groups'])} rules found" in done.stdout


def test_every_alert_says_what_and_links_its_runbook_section() -> None:
    runbook = Path(SLOS.runbook).read_text()
    anchors = {rules.runbook_anchor(h) for h in re.findall(r"^#+ (.+)$", runbook, re.M)}
    for name, rule in ALERTS.items():
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], name
        path, _, anchor = notes["runbook"].partition("#")
        assert path == "docs/runbook.md" and anchor in anchors, (name, notes["runbook"])
    for slo in SLOS.slos:  # every SLO pages and tickets
        assert {(slo.alert_name, "page"), (slo.alert_name, "ticket")} <= set(BURN)


# ---- promtool scenarios --------------------------------------------------------------


def render(template: str, labels: dict[str, str], value: str = "") -> str:
    """The annotation Prometheus would write: `$labels.x` and `$value` (already formatted
    the way the template's filter would)."""
    def one(match: re.Match[str]) -> str:
        inner = match[1].strip()
        if inner.startswith("$labels."):
            return labels[inner.removeprefix("$labels.")]
        assert inner.startswith("$value"), inner
        return value
    return re.sub(r"\{\{(.*?)\}\}", one, template)


def expect(alert: str, labels: dict[str, str], value: str = "",
           severity: str | None = None) -> dict[str, Any]:
    rule = BURN[alert, severity] if severity else ALERTS[alert]
    all_labels = {**labels, **rule["labels"]}
    return {"exp_labels": all_labels,
            "exp_annotations": {k: render(v, all_labels, value)
                                for k, v in rule["annotations"].items()}}


def counter(per_minute_before: float, per_minute_after: float, after: int) -> str:
    """A counter's values, one a minute: ONSET minutes at one rate, then `after` at another."""
    start = per_minute_before * ONSET
    return f"0+{per_minute_before:g}x{ONSET} {start:g}+{per_minute_after:g}x{after}"


def run(promtool: str, tmp_path: Path, series: dict[str, str],
        checks: list[dict[str, Any]], expr_checks: list[dict[str, Any]] | None = None) -> None:
    (tmp_path / "rules.yml").write_text(rules.to_yaml(RULES, ""))
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series.items()],
            "alert_rule_test": checks,
            "promql_expr_test": expr_checks or [],
        }],
    }
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def at(minutes: int, alert: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": f"{minutes}m", "alertname": alert, "exp_alerts": list(alerts)}


AVAILABILITY = "CxrEdgeAvailabilityBudgetBurn"
A_LABELS = {"slo": "edge-availability"}
OK = 'cxr_edge_requests_total{handler="webhook",status="202"}'
FAILED = 'cxr_edge_requests_total{handler="webhook",status="503"}'


def test_a_20x_error_rate_pages_within_the_fast_window(promtool: str, tmp_path: Path) -> None:
    """2 % of webhooks fail (20x the 0.1 % budget): the 5 m window is over 14.4x within
    minutes, the 1 h window after 14.4/20 of an hour (43 min): the page comes then, not
    before, and well inside the hour."""
    run(promtool, tmp_path,
        {OK: counter(1000, 980, 120), FAILED: counter(0, 20, 120)},
        [at(ONSET + 30, AVAILABILITY, expect(AVAILABILITY, A_LABELS, severity="ticket")),
         at(ONSET + 50, AVAILABILITY, expect(AVAILABILITY, A_LABELS, severity="page"),
            expect(AVAILABILITY, A_LABELS, severity="ticket"))],
        [{"expr": 'round(cxr_slo:burn_rate:5m{slo="edge-availability"})',
          "eval_time": f"{ONSET + 30}m",
          "exp_samples": [{"labels": '{slo="edge-availability"}',
                           "value": 20}]}])


def test_a_2x_error_rate_never_pages_but_tickets(promtool: str, tmp_path: Path) -> None:
    run(promtool, tmp_path,
        {OK: counter(1000, 998, 720), FAILED: counter(0, 2, 720)},
        [at(ONSET + 60, AVAILABILITY),
         at(ONSET + 240, AVAILABILITY),
         at(ONSET + 540, AVAILABILITY, expect(AVAILABILITY, A_LABELS, severity="ticket")),
         at(ONSET + 720, AVAILABILITY, expect(AVAILABILITY, A_LABELS, severity="ticket"))])


def test_healthy_traffic_raises_nothing(promtool: str, tmp_path: Path) -> None:
    series = {OK: counter(1000, 1000, 60), FAILED: counter(0, 0, 60),
              'cxr_edge_broker_ready{job="cxr-edge",instance="e:8080"}': f"1x{ONSET + 60}",
              'up{job="cxr-edge",instance="e:8080"}': f"1x{ONSET + 60}",
              'up{job="cxr-worker",instance="w:9102"}': f"1x{ONSET + 60}",
              'cxr_consumer_group_members{group="g"}': f"1x{ONSET + 60}",
              'cxr_consumer_lag_seconds{group="g",topic="raw",partition="0"}':
                  f"0.5x{ONSET + 60}"}
    run(promtool, tmp_path, series,
        [at(ONSET + 60, name) for name in ALERTS])


LATENCY = "CxrEndToEndLatencyBudgetBurn"


def test_slow_events_on_one_channel_page_for_that_channel_only(
        promtool: str, tmp_path: Path) -> None:
    """20 % of chat events over 1 s (20x the 1 % budget); voice stays fast."""
    bucket, count = "cxr_end_to_end_latency_seconds_bucket", "cxr_end_to_end_latency_seconds_count"
    run(promtool, tmp_path, {
        f'{bucket}{{channel="chat",le="1.0"}}': counter(100, 80, 60),
        f'{count}{{channel="chat"}}': counter(100, 100, 60),
        f'{bucket}{{channel="voice",le="1.0"}}': counter(100, 100, 60),
        f'{count}{{channel="voice"}}': counter(100, 100, 60),
    }, [at(ONSET + 50, LATENCY,
           expect(LATENCY, {"slo": "end-to-end-latency", "channel": "chat"}, severity="page"),
           expect(LATENCY, {"slo": "end-to-end-latency", "channel": "chat"},
                  severity="ticket"))])


LAG = 'cxr_consumer_lag_seconds{group="g",topic="raw",partition="0"}'
LAG_LABELS = {"group": "g", "topic": "raw", "partition": "0"}


def test_lag_age_over_the_threshold_fires(promtool: str, tmp_path: Path) -> None:
    """45 s behind from minute 10: the lag alert waits its `for` (2 m), the freshness SLO
    pages at once (45 s > 30 s is bad time, and 100 % of bad time burns 1000x)."""
    run(promtool, tmp_path, {LAG: "0x9 45x30"}, [
        at(11, "CxrConsumerLagHigh"),
        at(13, "CxrConsumerLagHigh", expect("CxrConsumerLagHigh", LAG_LABELS, "45s")),
        at(20, "CxrFreshnessBudgetBurn",
           expect("CxrFreshnessBudgetBurn", {"slo": "freshness"}, severity="page"),
           expect("CxrFreshnessBudgetBurn", {"slo": "freshness"}, severity="ticket")),
    ])


def test_lag_age_under_the_threshold_is_silent(promtool: str, tmp_path: Path) -> None:
    run(promtool, tmp_path, {LAG: "0x9 25x60"}, [
        at(60, "CxrConsumerLagHigh"), at(60, "CxrFreshnessBudgetBurn")])


def test_dead_letters_fire_by_reason_and_burn_their_budget(
        promtool: str, tmp_path: Path) -> None:
    """2 % of events dead-lettered as invalid_json: the per-reason ticket and the share
    SLO's page; duplicates are not events in the share."""
    events = "cxr_events_total"
    run(promtool, tmp_path, {
        f'{events}{{channel="chat",outcome="normalized"}}': counter(1000, 980, 60),
        f'{events}{{channel="unknown",outcome="dead_lettered"}}': counter(0, 20, 60),
        f'{events}{{channel="chat",outcome="duplicate"}}': counter(5000, 5000, 60),
        'cxr_dead_letters_total{reason="invalid_json"}': counter(0, 20, 60),
        'cxr_dead_letters_total{reason="missing_field"}': counter(0, 0, 60),
    }, [
        at(ONSET + 50, "CxrDeadLetters",
           expect("CxrDeadLetters", {"reason": "invalid_json"}, "300")),
        at(ONSET + 50, "CxrDeadLettersBudgetBurn",
           expect("CxrDeadLettersBudgetBurn", {"slo": "dead-letters"}, severity="page"),
           expect("CxrDeadLettersBudgetBurn", {"slo": "dead-letters"}, severity="ticket")),
    ])


def test_a_field_that_starts_missing_is_drift_and_a_field_always_missing_is_not(
        promtool: str, tmp_path: Path) -> None:
    day = 24 * 60
    missing = "cxr_missing_fields_total"
    run(promtool, tmp_path, {
        f'{missing}{{channel="chat",field="customer.identifier"}}':
            f"0x{day + 60} 0+5x30",
        f'{missing}{{channel="sms",field="contactId"}}': f"0+1x{day + 90}",
    }, [
        at(day + 60, "CxrSchemaDrift"),
        at(day + 70, "CxrSchemaDrift", expect(
            "CxrSchemaDrift", {"channel": "chat", "field": "customer.identifier"})),
    ])


def test_losing_the_last_worker_or_the_edge_fires(promtool: str, tmp_path: Path) -> None:
    run(promtool, tmp_path, {
        'cxr_consumer_group_members{group="g"}': "1x10 0x10",
        'up{job="cxr-edge",instance="e:8080"}': "1x10 0x10",
        'cxr_edge_broker_ready{job="cxr-edge",instance="e:8080"}': "1x10 0x10",
        'up{job="cxr-worker",instance="w:9102"}': "1x10 0x10",
    }, [
        at(11, "CxrWorkersBelowExpected"),
        at(13, "CxrWorkersBelowExpected", expect("CxrWorkersBelowExpected", {}, "0")),
        at(13, "CxrEdgeDown", expect("CxrEdgeDown",
                                     {"job": "cxr-edge", "instance": "e:8080"})),
        at(13, "CxrEdgeNotReady", expect("CxrEdgeNotReady",
                                         {"job": "cxr-edge", "instance": "e:8080"})),
        at(13, "CxrWorkerDown", expect("CxrWorkerDown",
                                       {"job": "cxr-worker", "instance": "w:9102"})),
    ])


def test_no_worker_and_no_edge_reporting_at_all_fires(promtool: str, tmp_path: Path) -> None:
    """Nothing scraped is not "all well": absent members and an absent edge alert."""
    run(promtool, tmp_path, {'up{job="other"}': "1x10"}, [
        at(5, "CxrWorkersBelowExpected", expect("CxrWorkersBelowExpected", {}, "0")),
        at(5, "CxrEdgeDown", expect("CxrEdgeDown", {"job": "cxr-edge"})),
    ])


def test_a_changed_slo_file_changes_the_rules() -> None:
    """Operators edit the SLO file, not PromQL: a new target and threshold reach the
    expressions."""
    data = SLOS.model_dump(by_alias=True)
    for slo in data["slos"]:
        if slo["kind"] == "latency":
            slo["threshold_seconds"] = 0.5
            slo["target"] = 99.5
    changed = rules.rules(SloFile.model_validate(data))
    exprs = [r["expr"] for g in changed["groups"] for r in g["rules"]]
    assert any('le="0.5"' in e for e in exprs)
    assert 'cxr_slo:sli_error:ratio_rate1h{slo="end-to-end-latency"} / 0.005' in exprs
