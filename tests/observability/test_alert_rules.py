"""The generated rules under promtool: each alert fires when it should and stays silent when
it should, over synthetic series (`promtool test rules`).

The scenarios are written against the shipped SLO file: its targets and the workbook's
burn-rate policy (page at 14.4x over 1 h and 5 m or 6x over 6 h and 30 m, ticket at 1x over
3 d and 6 h, for 30-day SLOs), asserted first so a change of policy points here. Each
scenario is a healthy stack with one thing broken, read as the on-call engineer would: it
pages when the sender loses events, and stays quiet for noise.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cxone_router.observability import rules
from cxone_router.observability.prometheus import find_binary
from cxone_router.observability.slo import SloFile, load_slos, seconds

SLOS = load_slos(Path("schemas"))
RULES = rules.rules(SLOS)
ALERTS = {r["alert"]: r for g in RULES["groups"] for r in g["rules"] if "alert" in r}
BURN = {(r["alert"], r["labels"]["severity"]): r for g in RULES["groups"]
        for r in g["rules"] if "alert" in r and "slo" in r["labels"]}
ONSET = 360  # minutes of healthy traffic before trouble starts
SLO_GROUPS = ("cxr-slo-recordings", "cxr-slo-alerts")
HOUR = 60  # enough healthy history for the 1 h page windows: scenarios on them run faster


@pytest.fixture(scope="module")
def promtool() -> str:
    return find_binary("promtool")


def test_the_shipped_policy_is_the_workbooks() -> None:
    slo = SLOS.slos[0]
    policy = [(a.severity, a.burn_rate(slo), a.long_window, a.short_window,
               a.min_bad_events) for a in SLOS.burn_rate_alerts]
    assert policy == [("page", 14.4, "1h", "5m", 5), ("page", 6, "6h", "30m", 10),
                      ("ticket", 1, "3d", "6h", 3)]
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


def counter(per_minute_before: float, per_minute_after: float, after: int,
            onset: int = ONSET) -> str:
    """A counter's values, one a minute: `onset` minutes at one rate, then `after` at
    another."""
    start = per_minute_before * onset
    return f"0+{per_minute_before:g}x{onset} {start:g}+{per_minute_after:g}x{after}"


def run(promtool: str, tmp_path: Path, series: dict[str, str],
        checks: list[dict[str, Any]], expr_checks: list[dict[str, Any]] | None = None,
        groups: tuple[str, ...] = (), interval: str = "1m") -> None:
    """`groups` limits the rules to those groups (a week of series evaluates fast only
    without the 30-day recordings); `interval` is both the series' step and the rules'."""
    chosen = {"groups": [g for g in RULES["groups"] if not groups or g["name"] in groups]}
    (tmp_path / "rules.yml").write_text(rules.to_yaml(chosen, ""))
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": interval,
        "tests": [{
            "interval": interval,
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
                           "value": 20}]}],
        groups=SLO_GROUPS)


def test_a_2x_error_rate_never_pages_but_tickets(promtool: str, tmp_path: Path) -> None:
    run(promtool, tmp_path,
        {OK: counter(1000, 998, 720), FAILED: counter(0, 2, 720)},
        [at(ONSET + 60, AVAILABILITY),
         at(ONSET + 240, AVAILABILITY),
         at(ONSET + 540, AVAILABILITY, expect(AVAILABILITY, A_LABELS, severity="ticket")),
         at(ONSET + 720, AVAILABILITY, expect(AVAILABILITY, A_LABELS, severity="ticket"))],
        groups=SLO_GROUPS)


def healthy(minutes: int) -> dict[str, str]:
    """A healthy stack's series over `minutes`: one edge, two workers, steady traffic."""
    series = {OK: counter(1000, 1000, minutes - ONSET), FAILED: counter(0, 0, minutes - ONSET),
              'cxr_edge_broker_ready{job="cxr-edge",instance="e:8080"}': f"1x{minutes}",
              'up{job="cxr-edge",instance="e:8080"}': f"1x{minutes}",
              'cxr_edge_publish_seconds_count{job="cxr-edge",instance="e:8080"}':
                  counter(1000, 1000, minutes - ONSET),
              'cxr_events_total{channel="chat",outcome="normalized"}':
                  counter(1000, 1000, minutes - ONSET)}
    for worker in ("w1:9102", "w2:9102"):
        series[f'up{{job="cxr-worker",instance="{worker}"}}'] = f"1x{minutes}"
        series[f'cxr_consumer_group_members{{group="g",instance="{worker}"}}'] = f"2x{minutes}"
        series[f'cxr_consumer_lag_checked_timestamp_seconds'
               f'{{job="cxr-worker",group="g",instance="{worker}"}}'] = f"0+60x{minutes}"
        for partition in range(3):
            series[f'cxr_consumer_lag_seconds{{group="g",topic="raw",partition="{partition}",'
                   f'instance="{worker}"}}'] = f"0.5x{minutes}"
    return series


def test_healthy_traffic_raises_nothing(promtool: str, tmp_path: Path) -> None:
    run(promtool, tmp_path, healthy(ONSET + 60),
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
                  severity="ticket"))],
        groups=SLO_GROUPS)


LAG = 'cxr_consumer_lag_seconds{group="g",topic="raw",partition="0"}'
LAG_LABELS = {"group": "g", "topic": "raw"}


def test_lag_age_over_the_threshold_fires(promtool: str, tmp_path: Path) -> None:
    """45 s behind from minute 10: the lag alert waits its `for` (2 m), the freshness SLO
    pages once the breach has lasted its minimum of 5 bad minutes (100 % of bad time
    burns 1000x)."""
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
           expect("CxrDeadLetters", {"reason": "invalid_json"}, "20")),
        at(ONSET + 50, "CxrDeadLettersBudgetBurn",
           expect("CxrDeadLettersBudgetBurn", {"slo": "dead-letters"}, severity="page"),
           expect("CxrDeadLettersBudgetBurn", {"slo": "dead-letters"}, severity="ticket")),
    ],
        groups=(*SLO_GROUPS, "cxr-operations"))


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
    ],
        groups=("cxr-operations",))


def test_losing_the_last_worker_or_the_edge_fires(promtool: str, tmp_path: Path) -> None:
    run(promtool, tmp_path, {
        'cxr_consumer_group_members{group="g"}': "2x10 0x10",
        'up{job="cxr-edge",instance="e:8080"}': "1x10 0x10",
        'cxr_edge_broker_ready{job="cxr-edge",instance="e:8080"}': "1x10 0x10",
        'up{job="cxr-worker",instance="w:9102"}': "1x10 0x10",
    }, [
        at(11, "CxrWorkersBelowExpected"),
        at(13, "CxrWorkersBelowExpected", expect("CxrWorkersBelowExpected", {}, "0")),
        at(13, "CxrNoWorkers", expect("CxrNoWorkers", {})),
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
        at(5, "CxrNoWorkers", expect("CxrNoWorkers", {})),
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


# ---- what the sender experiences ------------------------------------------------------


@pytest.mark.parametrize(("status", "publish_error"), [
    ("429", None),  # our rate limit refuses a real sender: CXone retries, then drops
    ("499", None),  # the sender gave up waiting for the broker's ack
    ("413", "MessageSizeTooLargeError"),  # the broker refused the record: it is lost
])
def test_answers_that_lose_the_senders_events_burn_availability(
        promtool: str, tmp_path: Path, status: str, publish_error: str | None) -> None:
    """2 % of webhooks answered 429, 499 or a broker-refused 413 burns the budget 20x and
    pages, as a 503 would; a 413 for a body over the limit (no publish error behind it) is
    the request's fault and burns nothing."""
    series = {OK: counter(1000, 980, 60, HOUR),
              f'cxr_edge_requests_total{{handler="webhook",status="{status}"}}':
                  counter(0, 20, 60, HOUR)}
    if publish_error:
        series[f'cxr_edge_publish_errors_total{{error="{publish_error}"}}'] = counter(
            0, 20, 60, HOUR)
    run(promtool, tmp_path, series,
        [at(HOUR + 50, AVAILABILITY, expect(AVAILABILITY, A_LABELS, severity="page"),
            expect(AVAILABILITY, A_LABELS, severity="ticket"))], groups=SLO_GROUPS)


def test_a_413_for_a_body_over_the_limit_is_not_an_outage(
        promtool: str, tmp_path: Path) -> None:
    """Senders' own mistakes (too large, unparsable) count neither way; broker-refused
    413s on top of them do page."""
    too_large = 'cxr_edge_requests_total{handler="webhook",status="413"}'
    run(promtool, tmp_path, {
        OK: counter(1000, 980, 120, HOUR), too_large: counter(0, 20, 120, HOUR),
        'cxr_edge_publish_errors_total{error="RecordTooLargeError"}':
            f"0x{HOUR + 60} 0+20x60",
    }, [at(HOUR + 50, AVAILABILITY),
        at(HOUR + 110, AVAILABILITY, expect(AVAILABILITY, A_LABELS, severity="page"),
           expect(AVAILABILITY, A_LABELS, severity="ticket"))], groups=SLO_GROUPS)


def test_a_surge_of_401s_pages_and_strangers_probing_do_not(
        promtool: str, tmp_path: Path) -> None:
    """A secret rotated on one side only: every webhook is answered 401. The availability
    SLO leaves 401s out (strangers probing would burn it), so its own alert pages; 30
    probes a minute next to 100 real webhooks do not."""
    unauthorized = 'cxr_edge_requests_total{handler="webhook",status="401"}'
    run(promtool, tmp_path, {OK: f"0+100x{ONSET + 30} {100 * (ONSET + 30)}+0x30",
                             unauthorized: f"0+30x{ONSET + 30} {30 * (ONSET + 30)}+100x30"}, [
        at(ONSET + 25, "CxrEdgeAuthFailures"),
        at(ONSET + 33, "CxrEdgeAuthFailures"),
        at(ONSET + 45, "CxrEdgeAuthFailures", expect("CxrEdgeAuthFailures", {})),
    ], groups=("cxr-edge",))


INTAKE = "CxrWebhookIntakeStopped"


def test_intake_falling_to_zero_after_steady_traffic_pages(
        promtool: str, tmp_path: Path) -> None:
    """CXone stops sending (registration deleted, network cut upstream): every other
    alert is quiet, as nothing fails. The page comes 15 m of silence + 5 m later. Two
    webhooks an hour is not steady traffic: a quiet tenant's silent hour does not page."""
    run(promtool, tmp_path, {OK: counter(100, 0, 40)}, [
        at(ONSET + 10, INTAKE),
        at(ONSET + 25, INTAKE, expect(INTAKE, {})),
    ], groups=("cxr-edge",))
    run(promtool, tmp_path, {OK: f"0+0.033x{ONSET} {0.033 * ONSET:g}+0x60"},
        [at(ONSET + 40, INTAKE), at(ONSET + 60, INTAKE)], groups=("cxr-edge",))


def test_intake_far_below_the_same_hour_last_week_pages(
        promtool: str, tmp_path: Path) -> None:
    """A tenth of last week's traffic (a sender's registration of four deleted, a partial
    network cut): not zero, but far below."""
    week, step = 7 * 24 * 60, 5  # minutes; a 5-minute step keeps a week's series fast
    run(promtool, tmp_path, {
        OK: f"0+500x{(week + 60) // step} {100 * (week + 60)}+50x{90 // step}"}, [
        at(week + 90, INTAKE),
        at(week + 130, INTAKE, expect(INTAKE, {})),
    ], groups=("cxr-edge",), interval=f"{step}m")


# ---- minimum traffic: noise does not page ---------------------------------------------


def test_one_503_among_a_quiet_hours_webhooks_raises_nothing_but_an_outage_pages(
        promtool: str, tmp_path: Path) -> None:
    """Six webhooks an hour: one 503 is 17 % of the hour (167x the budget) yet one event;
    neither page nor ticket. Every webhook failing for an hour is six, and pages."""
    rate = 0.1  # per minute
    ok = f"0+{rate}x{HOUR + 120} {rate * (HOUR + 120):g}+0x90"
    failed = f"0x{HOUR + 30} 1x90 1+{rate}x90"
    run(promtool, tmp_path, {OK: ok, FAILED: failed}, [
        at(HOUR + 35, AVAILABILITY), at(HOUR + 60, AVAILABILITY),
        at(HOUR + 115, AVAILABILITY),
        at(HOUR + 190, AVAILABILITY, expect(AVAILABILITY, A_LABELS, severity="page"),
           expect(AVAILABILITY, A_LABELS, severity="ticket")),
    ], groups=SLO_GROUPS)


def test_one_slow_event_on_a_quiet_channel_does_not_page(
        promtool: str, tmp_path: Path) -> None:
    """Three chat events an hour, one of them slow: a quarter of the hour's events over
    the threshold (25x the budget), but one event."""
    bucket, count = "cxr_end_to_end_latency_seconds_bucket", "cxr_end_to_end_latency_seconds_count"
    rate = 0.05
    slow_at = HOUR + 30
    run(promtool, tmp_path, {
        f'{bucket}{{channel="chat",le="1.0"}}': f"0+{rate}x{HOUR + 90}",
        f'{count}{{channel="chat"}}':
            f"0+{rate}x{slow_at} {rate * slow_at + rate + 1:g}+{rate}x59",
    }, [at(slow_at + 3, LATENCY), at(slow_at + 30, LATENCY)], groups=SLO_GROUPS)


def test_a_one_minute_lag_blip_does_not_page(promtool: str, tmp_path: Path) -> None:
    """45 s behind for one minute (a rebalance): a sixtieth of the hour is 17x the
    freshness budget, but one minute of breach is not an outage: neither page nor ticket
    (the ticket's 3-day window has only this hour of history, so the breach share alone
    would be over its 1x)."""
    run(promtool, tmp_path, {LAG: f"0x{HOUR} 45 0x60"}, [
        at(HOUR + m, name) for m in (1, 2, 5, 30)
        for name in ("CxrFreshnessBudgetBurn", "CxrConsumerLagHigh")], groups=(
            *SLO_GROUPS, "cxr-operations"))

def test_lag_pages_once_per_topic_not_once_per_partition(
        promtool: str, tmp_path: Path) -> None:
    """A hundred partitions behind, reported by two workers: one page, for the topic."""
    series = {f'cxr_consumer_lag_seconds{{group="g",topic="raw",partition="{p}",'
              f'instance="{w}"}}': f"0x9 {40 + p % 7}x30"
              for p in range(100) for w in ("w1", "w2")}
    run(promtool, tmp_path, series, [
        at(13, "CxrConsumerLagHigh", expect("CxrConsumerLagHigh", LAG_LABELS, "46s"))],
        groups=("cxr-operations",))


def test_one_dead_letter_raises_nothing_a_stream_of_them_a_ticket(
        promtool: str, tmp_path: Path) -> None:
    """One dead letter is in the DLQ for someone to look at, not an alert that resolves
    itself 15 minutes later; one a minute for ten minutes is a ticket."""
    run(promtool, tmp_path, {
        'cxr_dead_letters_total{reason="invalid_json"}': "0x10 1x50",
        'cxr_dead_letters_total{reason="missing_field"}': "0x30 0+1x30",
    }, [
        at(12, "CxrDeadLetters"), at(20, "CxrDeadLetters"), at(35, "CxrDeadLetters"),
        at(50, "CxrDeadLetters", expect("CxrDeadLetters", {"reason": "missing_field"}, "1")),
    ], groups=("cxr-operations",))


def test_losing_one_of_the_deployments_two_workers_pages(
        promtool: str, tmp_path: Path) -> None:
    run(promtool, tmp_path, {'cxr_consumer_group_members{group="g"}': "2x10 1x10"}, [
        at(11, "CxrWorkersBelowExpected"),
        at(13, "CxrWorkersBelowExpected", expect("CxrWorkersBelowExpected", {}, "1")),
        at(13, "CxrNoWorkers"),
    ], groups=("cxr-operations",))


def test_expected_workers_is_the_compose_deployments_count() -> None:
    compose = yaml.safe_load(Path("compose/docker-compose.yml").read_text())
    assert compose["services"]["worker"]["deploy"]["replicas"] == SLOS.alerts.expected_workers


def test_burn_factors_follow_the_slo_window() -> None:
    """The policy says what share of the budget may go in a window; the factor follows
    the SLO's window: 2 % of a 7-day budget in 1 h is 3.36x, not the 30-day 14.4x."""
    data = SLOS.model_dump(by_alias=True)
    for slo in data["slos"]:
        if slo["kind"] == "availability":
            slo["window"] = "7d"
    changed = rules.rules(SloFile.model_validate(data))
    page = next(r for g in changed["groups"] for r in g["rules"]
                if r.get("alert") == AVAILABILITY and r["labels"]["severity"] == "page")
    assert 'cxr_slo:burn_rate:1h{slo="edge-availability"} > 3.36 ' in page["expr"]
    assert 'cxr_slo:burn_rate:6h{slo="edge-availability"} > 1.4 ' in page["expr"]
    latency_page = BURN[LATENCY, "page"]["expr"]
    assert "> 14.4 " in latency_page  # still 30 days


# ---- signals that lie -----------------------------------------------------------------


def test_lag_checks_that_stop_raise_a_ticket(promtool: str, tmp_path: Path) -> None:
    """w1 last measured at minute 10; w2 never measured; w3 measures but cannot read a
    partition from minute 10: none of them can vouch for the lag."""
    checked = "cxr_consumer_lag_checked_timestamp_seconds"
    run(promtool, tmp_path, {
        f'{checked}{{job="cxr-worker",group="g",instance="w1"}}': "0+60x10 600x20",
        f'{checked}{{job="cxr-worker",group="g",instance="w3"}}': "0+60x30",
        'cxr_consumer_lag_unknown_partitions{job="cxr-worker",group="g",instance="w3"}':
            "0x10 1x20",
        'up{job="cxr-worker",instance="w1"}': "1x30",
        'up{job="cxr-worker",instance="w2"}': "1x30",
        'up{job="cxr-worker",instance="w3"}': "1x30",
    }, [
        at(11, "CxrLagChecksStopped",
           expect("CxrLagChecksStopped", {"job": "cxr-worker", "instance": "w2"})),
        at(20, "CxrLagChecksStopped",
           expect("CxrLagChecksStopped", {"job": "cxr-worker", "group": "g",
                                          "instance": "w1"}),
           expect("CxrLagChecksStopped", {"job": "cxr-worker", "instance": "w2"}),
           expect("CxrLagChecksStopped", {"job": "cxr-worker", "group": "g",
                                          "instance": "w3"})),
    ], groups=("cxr-operations",))


def test_writes_failing_under_min_insync_replicas_page(promtool: str, tmp_path: Path) -> None:
    """Two of three brokers down: the edge still reaches a broker and the raw topic (ready),
    but every write is refused with NotEnoughReplicas."""
    run(promtool, tmp_path, {
        'cxr_edge_publish_seconds_count{job="cxr-edge",instance="e:8080"}':
            counter(1000, 0, 30, HOUR),
        'cxr_edge_publish_errors_total{error="NotEnoughReplicasError"}':
            counter(0, 1000, 30, HOUR),
        'cxr_edge_broker_ready{job="cxr-edge",instance="e:8080"}': f"1x{HOUR + 30}",
    }, [
        at(HOUR + 1, "CxrEdgePublishFailing"),
        at(HOUR + 10, "CxrEdgePublishFailing",
           expect("CxrEdgePublishFailing", {"error": "NotEnoughReplicasError"})),
        at(HOUR + 10, "CxrEdgeNotReady"),
    ], groups=("cxr-slo-recordings", "cxr-edge"))


def test_a_broker_down_tickets_under_replication_and_a_second_pages_refused_writes(
        promtool: str, tmp_path: Path) -> None:
    """One broker of three down: writes still succeed but the raw topic is under-replicated
    (a ticket after 5 minutes, not a page); a second down: partitions under
    min.insync.replicas refuse writes (a page after a minute). A blip of a minute raises
    nothing. The edge stays ready all along (some partitions still take writes)."""
    edge = '{job="cxr-edge",instance="e:8080"}'
    run(promtool, tmp_path, {
        f"cxr_edge_raw_partitions_under_replicated{edge}": "0x10 6x2 0x8 4x30",
        f"cxr_edge_raw_partitions_under_min_isr{edge}": "0x40 2x20",
        f"cxr_edge_broker_ready{edge}": "1x60",
    }, [
        at(13, "CxrRawTopicUnderReplicated"),  # the three-minute blip: nothing
        at(26, "CxrRawTopicUnderReplicated"),  # under-replicated for 3 minutes: not yet
        at(29, "CxrRawTopicUnderReplicated",
           expect("CxrRawTopicUnderReplicated", {}, "4")),
        at(40, "CxrRawTopicUnderMinIsr"),
        at(42, "CxrRawTopicUnderMinIsr", expect("CxrRawTopicUnderMinIsr", {}, "2")),
        at(42, "CxrEdgeNotReady"),
    ], groups=("cxr-edge",))


def test_accepted_webhooks_nobody_processes_page(promtool: str, tmp_path: Path) -> None:
    """Workers alive and in the group but stuck, their lag checks failing too: the
    processed count stops while intake goes on."""
    run(promtool, tmp_path, {
        OK: counter(100, 100, 40),
        'cxr_events_total{channel="chat",outcome="normalized"}': counter(100, 0, 40),
    }, [
        at(ONSET + 10, "CxrProcessingStalled"),
        at(ONSET + 25, "CxrProcessingStalled", expect("CxrProcessingStalled", {})),
    ], groups=("cxr-operations",))


# ---- cost at scale ----------------------------------------------------------------------

RANGE = re.compile(r"\b([a-zA-Z_][\w:]*)(\{[^}]*\})?\[(\d+[smhdw])\]")


def test_no_rule_reads_raw_series_over_the_slo_window() -> None:
    """With 20 workers, a 30-day `rate()` over the raw event counters loads 360 series x
    172,800 samples (15 s scrapes): over Prometheus's 50 M per query, so the budget
    recording fails exactly when it matters. Windows of a day or more read the 5-minute
    recordings (one series per SLO and channel); raw ranges stop at the longest burn-rate
    window's minimum-traffic count (3 d)."""
    longest = max(seconds(a.long_window) for a in SLOS.burn_rate_alerts)
    for group in RULES["groups"]:
        for rule in group["rules"]:
            for name, _, window in RANGE.findall(rule["expr"]):
                if ":" not in name:  # a raw series, not a recording
                    assert seconds(window) <= longest, (rule.get("record") or
                                                        rule["alert"], name, window)
