"""The SLA as an SRE sees it, for real: Prometheus scrapes a running edge and worker every
second with the generated rules loaded, while simulated traffic flows over all four
channels with redeliveries, malformed and drifted events. Then every dashboard panel's
query and every recording rule runs through Prometheus's HTTP API.

Invariants: no query returns nothing (a failure names the panel or rule); the per-channel
figures have every channel, the dead-letter reasons that were caused, the field that was
removed, lag for every raw partition; every expression parses and names only metrics that
the stack's /metrics pages export (or the rules record).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from cxone_router.observability import dashboards, rules
from cxone_router.observability.prometheus import LocalPrometheus
from cxone_router.observability.slo import load_slos
from cxone_router.samples import brief
from cxone_router.simulate import Profile, run_simulation
from cxone_router.stack import Stack
from tests.integration.harness import make_stack, post, scrape
from tests.observability.panels import panel_queries
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
SLOS = load_slos(Path("schemas"))
CHANNELS = ("voice", "chat", "sms", "email")
REMOVED_FIELD = "customer.identifier"
RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval becomes here
PROMETHEUS_NAMES = {"up", "ALERTS"}  # synthetic series of every scrape and firing alert
# Exported only once something failed; the rules read them inside `(... or vector(0))`.
ABSENT_UNTIL_FAILURE = {"cxr_edge_publish_errors_total"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                "offset", "and", "or", "unless", "inf", "nan"}


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[Stack, LocalPrometheus]]:
    """On an embedded broker of its own: Prometheus over the processes' /metrics is the
    same on any broker (lag on Apache Kafka is test_group_monitor's), and the suite's time
    goes to what differs between brokers."""
    stack = make_stack(None, CXR_LAG_CHECK_SECONDS="1")
    prometheus: LocalPrometheus | None = None
    try:
        stack.start_all()
        prometheus = LocalPrometheus(SLOS, f"{stack.edge_url}/metrics",
                                     list(stack.worker_metrics.values())).start()
        asyncio.run(_traffic(stack))
        yield stack, prometheus
    except BaseException:
        if prometheus is not None:
            print("prometheus log:\n" + prometheus.log_tail())
        raise
    finally:
        if prometheus is not None:
            prometheus.stop()
        stack.stop_all()


async def _traffic(stack: Stack) -> None:
    """Every channel and shape, redeliveries, malformed bodies (400s at the edge, dead
    letters in the worker), a field removed, and a raw record that is not JSON."""
    profile = Profile(rate=100, duration=8, concurrency=16, seed=11, redeliveries=0.1,
                      malformed=0.05, drift=0.2)
    summary = await run_simulation(f"{stack.edge_url}/webhooks/cxone", profile,
                                   progress=False)
    assert summary.lost == 0 and summary.accepted > 0
    for i in range(5):
        drifted = brief("interaction.created", f"drift-{i}-{time.time_ns()}", "chat",
                        customer={})  # the customer is gone: customer.identifier missing
        assert (await post(stack, drifted)).status_code == 202
    producer = stack.kafka.producer(acks="all")
    await producer.start()
    try:  # what a careless replay could put on the raw topic
        await producer.send_and_wait(stack.topics.raw, b"{not json", key=b"broken",
                                     headers=[("content-type", b"application/json")])
    finally:
        await producer.stop()


def _wait_for(prometheus: LocalPrometheus, expr: str, ok: Any, timeout: float = 60) -> list[
        dict[str, Any]]:
    """Prometheus's answer to `expr` once `ok` says it is the one awaited."""
    result: list[dict[str, Any]] = []

    def holds() -> bool:
        result[:] = prometheus.query(expr)
        return bool(ok(result))

    wait_until(holds, f"Prometheus's answer to {expr}", timeout, every=1, seen=lambda: result)
    return result


def _labels(result: list[dict[str, Any]], name: str) -> set[str]:
    return {r["metric"].get(name, "") for r in result}


def _grafana(expr: str) -> str:
    return expr.replace("$__rate_interval", RATE_INTERVAL).replace("$channel", ".*")


def _panels() -> list[tuple[str, str, str]]:
    out = []
    for path, content in dashboards.files(SLOS).items():
        if path.endswith(".json"):
            dashboard = orjson.loads(content)
            out += [(dashboard["title"], title, expr)
                    for title, expr in panel_queries(dashboard)]
    return out


RECORDED = sorted({r["record"] for g in rules.rules(SLOS)["groups"] for r in g["rules"]
                   if "record" in r})


def test_the_figures_an_sre_needs_are_there(live: tuple[Stack, LocalPrometheus]) -> None:
    stack, prometheus = live
    p99 = _wait_for(
        prometheus,
        f"histogram_quantile(0.99, sum by (le, channel) "
        f"(rate(cxr_end_to_end_latency_seconds_bucket[{RATE_INTERVAL}])))",
        lambda r: {c for c in _labels(r, "channel")
                   if any(x["metric"].get("channel") == c and x["value"][1] != "NaN"
                          for x in r)} >= set(CHANNELS))
    assert _labels(p99, "channel") >= set(CHANNELS), p99

    reasons = _wait_for(prometheus, "cxr_dead_letters_total > 0",
                        lambda r: len(r) >= 3)
    assert _labels(reasons, "reason") >= {"invalid_json", "unknown_channel", "missing_field"}

    drift = prometheus.query(f'cxr_missing_fields_total{{field="{REMOVED_FIELD}"}} > 0')
    assert _labels(drift, "channel") == {"chat"}, drift

    lag = _wait_for(prometheus, "cxr_consumer_lag_seconds",
                    lambda r: len(r) >= stack.settings.partitions)
    assert _labels(lag, "partition") == {str(p) for p in range(stack.settings.partitions)}
    assert _labels(lag, "topic") == {stack.topics.raw}

    answers = prometheus.query('cxr_edge_requests_total{handler="webhook"} > 0')
    assert {"202", "400"} <= _labels(answers, "status")


def test_every_recording_rule_has_series(live: tuple[Stack, LocalPrometheus]) -> None:
    _, prometheus = live
    _wait_for(prometheus, "cxr_slo:error_budget:remaining_ratio", lambda r: len(r) >= 7)
    empty, errors = [], []
    for name in RECORDED:
        result = prometheus.query(name)
        if not result:
            empty.append(name)
        elif name.startswith("cxr_slo:sli_error") or name.startswith("cxr_slo:burn_rate"):
            slos = _labels(result, "slo")
            if slos != {s.name for s in SLOS.slos}:
                errors.append(f"{name}: slo labels {sorted(slos)}")
            latency = {r["metric"].get("channel") for r in result
                       if r["metric"]["slo"] == "end-to-end-latency"}
            if latency != set(CHANNELS):
                errors.append(f"{name}: latency channels {sorted(map(str, latency))}")
    assert not empty, f"recording rules with no series: {empty}"
    assert not errors, errors
    unhealthy = [r["name"] for g in prometheus.api("rules")["groups"] for r in g["rules"]
                 if r["health"] != "ok"]
    assert not unhealthy, f"rules Prometheus could not evaluate: {unhealthy}"


def test_every_dashboard_panel_returns_data(live: tuple[Stack, LocalPrometheus]) -> None:
    _, prometheus = live
    _wait_for(prometheus, "cxr_slo:error_budget:remaining_ratio", lambda r: len(r) >= 7)
    panels = _panels()
    assert len(panels) >= 15
    empty = [f"{dashboard} / {title}: {expr}" for dashboard, title, expr in panels
             if not prometheus.query(_grafana(expr))]
    assert not empty, "panels whose query returns nothing:\n" + "\n".join(empty)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (strings, label matchers, ranges,
    grouping clauses and function calls left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?", expr):
        if match[2] is None and match[1] not in PROMQL_WORDS:
            names.add(match[1])
    return names


def test_every_expression_names_only_exported_metrics(
        live: tuple[Stack, LocalPrometheus]) -> None:
    stack, _ = live
    scraped = scrape(f"{stack.edge_url}/metrics").names
    for url in stack.worker_metrics.values():
        scraped |= scrape(url).names
    known = scraped | set(RECORDED) | PROMETHEUS_NAMES | ABSENT_UNTIL_FAILURE
    expressions = [(f"{d} / {t}", _grafana(e)) for d, t, e in _panels()]
    expressions += [(r.get("record") or r["alert"], r["expr"])
                    for g in rules.rules(SLOS)["groups"] for r in g["rules"]]
    unknown = {f"{where}: {sorted(metric_names(expr) - known)}" for where, expr in expressions
               if metric_names(expr) - known}
    assert not unknown, "\n".join(sorted(unknown))
    assert all(metric_names(expr) for _, expr in expressions)


def test_the_name_extraction_sees_through_promql() -> None:
    """The check above is only as good as this parser."""
    expr = ('histogram_quantile(0.99, sum by (le, channel) (rate(a_bucket{le="1.0",x=~"y|z"}'
            '[5m]))) / on (channel) group_left b_total offset 1h or on() vector(0) '
            '> bool 3 unless max without (p) (c:rec:ratio_rate5m)')
    assert metric_names(expr) == {"a_bucket", "b_total", "c:rec:ratio_rate5m"}
