"""The generated Grafana dashboards and provisioning files (no broker, no Grafana)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cxone_router.observability import dashboards, rules
from cxone_router.observability.generate import HEADER
from cxone_router.observability.slo import SloFile, load_slos
from tests.observability.panels import panel_queries

SLA = "grafana/dashboards/cxr-sla-overview.json"
DETAIL = "grafana/dashboards/cxr-pipeline-detail.json"
DATASOURCES = "grafana/provisioning/datasources/cxr-prometheus.yml"
PROVIDERS = "grafana/provisioning/dashboards/cxr.yml"

# What the edge and workers export, and the recording rules (histograms by base name).
METRICS = {
    "cxr_edge_requests_total", "cxr_edge_request_seconds", "cxr_edge_publish_seconds",
    "cxr_hop_latency_seconds", "cxr_edge_requests_in_flight", "cxr_edge_broker_ready",
    "cxr_build_info", "cxr_events_total", "cxr_dead_letters_total",
    "cxr_fanout_records_total", "cxr_missing_fields_total", "cxr_end_to_end_latency_seconds",
    "cxr_dedup_keys", "cxr_dedup_purged_total", "cxr_worker_rebalances_total",
    "cxr_worker_assigned_partitions", "cxr_consumer_lag_records", "cxr_consumer_lag_seconds",
    "cxr_consumer_group_members", "cxr_consumer_lag_checked_timestamp_seconds",
    "process_cpu_seconds_total", "process_resident_memory_bytes",
    "cxr_slo:error_budget:remaining_ratio",
}
RECORDED = re.compile(r"cxr_slo:(sli_error:ratio_rate|burn_rate:)(\d+[smhdw])")
# Series that exist only once something failed: a panel on them would show nothing.
ABSENT_UNTIL_FAILURE = {"cxr_delivery_retries_total", "cxr_edge_publish_errors_total"}
METRIC_TOKEN = re.compile(r"\b((?:cxr|process|python)_[A-Za-z0-9_:]*)")
VARIABLE = re.compile(r"\$\{?(\w+)")


@pytest.fixture(scope="module")
def slo_file() -> SloFile:
    return load_slos(Path("schemas"))


@pytest.fixture(scope="module")
def files(slo_file: SloFile) -> dict[str, str]:
    return dashboards.files(slo_file)


@pytest.fixture(scope="module")
def docs(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {SLA: json.loads(files[SLA]), DETAIL: json.loads(files[DETAIL])}


def _raw_slos() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path("schemas/slos.json").read_text(encoding="utf-8"))
    return data


def _leaf_panels(document: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in document["panels"]:
        if panel["type"] == "row":
            out += panel.get("panels", [])
        else:
            out.append(panel)
    return out


def _panel(document: dict[str, Any], title: str) -> dict[str, Any]:
    matches = [p for p in _leaf_panels(document) if p["title"] == title]
    assert len(matches) == 1, title
    return matches[0]


def _steps(panel: dict[str, Any]) -> list[float]:
    return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            if s["value"] is not None]


def _sla(slo_file: SloFile) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(dashboards.files(slo_file)[SLA])
    return document


def test_files_are_exactly_the_four_paths(files: dict[str, str]) -> None:
    assert set(files) == {SLA, DETAIL, DATASOURCES, PROVIDERS}
    assert all(content.endswith("\n") and not content.endswith("\n\n")
               for content in files.values())


def test_output_is_deterministic_and_sorted(slo_file: SloFile, files: dict[str, str]) -> None:
    assert dashboards.files(slo_file) == files
    assert dashboards.files(load_slos(Path("schemas"))) == files
    for path in (SLA, DETAIL):
        assert files[path] == json.dumps(json.loads(files[path]), indent=2, sort_keys=True) + "\n"


def test_uids_and_titles_are_fixed(docs: dict[str, dict[str, Any]]) -> None:
    assert (docs[SLA]["uid"], docs[SLA]["title"]) == (
        "cxr-sla-overview", "cxone-router / SLA overview")
    assert (docs[DETAIL]["uid"], docs[DETAIL]["title"]) == (
        "cxr-pipeline-detail", "cxone-router / pipeline detail")


def test_variables_are_datasource_and_channel(docs: dict[str, dict[str, Any]]) -> None:
    for document in docs.values():
        variables = {v["name"]: v for v in document["templating"]["list"]}
        assert set(variables) == {"datasource", "channel"}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        channel = variables["channel"]
        assert channel["type"] == "query"
        assert channel["query"] == "label_values(cxr_end_to_end_latency_seconds_count, channel)"
        assert (channel["multi"], channel["includeAll"], channel["allValue"]) == (
            True, True, ".*")
        assert channel["datasource"]["uid"] == "${datasource}"


def test_every_panel_queries_prometheus_through_the_variable(
        docs: dict[str, dict[str, Any]]) -> None:
    for document in docs.values():
        panels = _leaf_panels(document)
        assert len(panels) >= 8
        for panel in panels:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
            assert panel["targets"], panel["title"]
            assert panel.get("description"), panel["title"]
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert len(set(ref_ids)) == len(ref_ids), panel["title"]
            for target in panel["targets"]:
                assert target["expr"].strip(), panel["title"]
                assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_expressions_use_only_channel_and_rate_interval(
        docs: dict[str, dict[str, Any]]) -> None:
    used = set()
    for document in docs.values():
        for title, expr in panel_queries(document):
            names = set(VARIABLE.findall(expr))
            assert names <= {"channel", "__rate_interval"}, (title, expr)
            if "channel" in names:
                assert '{channel=~"$channel"' in expr or ',channel=~"$channel"' in expr, expr
            used |= names
    assert used == {"channel", "__rate_interval"}


def test_expressions_use_only_exported_metrics(docs: dict[str, dict[str, Any]],
                                               slo_file: SloFile) -> None:
    windows = set(slo_file.windows) | {s.window for s in slo_file.slos}
    for document in docs.values():
        for title, expr in panel_queries(document):
            assert expr.count("(") == expr.count(")"), expr
            assert expr.count("{") == expr.count("}"), expr
            for token in METRIC_TOKEN.findall(expr):
                # such a series may appear only inside `(... or vector(0))`
                if token in ABSENT_UNTIL_FAILURE:
                    assert re.search(re.escape(token) + r"[^()]*\]\)\) or vector\(0\)\)",
                                     expr), (title, expr)
                    continue
                recorded = RECORDED.fullmatch(token)
                if recorded:
                    assert recorded[2] in windows, (title, token)
                    continue
                base = re.sub(r"_(bucket|count|sum)$", "", token)
                assert base in METRICS, (title, token)


def test_end_to_end_quantiles_are_by_channel(docs: dict[str, dict[str, Any]]) -> None:
    exprs = [e for _, e in panel_queries(docs[SLA])
             if "cxr_end_to_end_latency_seconds_bucket" in e]
    assert ('histogram_quantile(0.99, sum by (le, channel) (rate(cxr_end_to_end_latency_'
            'seconds_bucket{channel=~"$channel"}[$__rate_interval])))') in exprs
    assert any(e.startswith("histogram_quantile(0.5,") for e in exprs)


def test_latency_panel_follows_the_slo_threshold(slo_file: SloFile,
                                                 docs: dict[str, dict[str, Any]]) -> None:
    title = "End-to-end latency by channel"
    assert _steps(_panel(docs[SLA], title)) == [1.0]
    data = _raw_slos()
    for slo in data["slos"]:
        if slo["kind"] == "latency":
            slo["threshold_seconds"], slo["target"] = 0.5, 99.5
    panel = _panel(_sla(SloFile.model_validate(data)), title)
    assert _steps(panel) == [0.5]
    assert "within 0.5 s" in panel["description"]
    assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"
    assert [t["legendFormat"] for t in panel["targets"]] == [
        "p50 {{channel}}", "p99.5 {{channel}}"]
    assert panel["targets"][1]["expr"].startswith("histogram_quantile(0.995,")


def test_sli_panels_follow_targets_and_thresholds(docs: dict[str, dict[str, Any]]) -> None:
    assert _steps(_panel(docs[SLA], "Edge availability")) == [0.999]
    assert _steps(_panel(docs[SLA], "Freshness: oldest unprocessed record")) == [30]
    data = _raw_slos()
    for slo in data["slos"]:
        if slo["kind"] == "availability":
            slo["target"] = 99.5
        if slo["kind"] == "freshness":
            slo["threshold_seconds"] = 45
    document = _sla(SloFile.model_validate(data))
    assert _steps(_panel(document, "Edge availability")) == [0.995]
    assert _steps(_panel(document, "Freshness: oldest unprocessed record")) == [45]


def test_burn_rates_follow_the_policy(slo_file: SloFile,
                                      docs: dict[str, dict[str, Any]]) -> None:
    burns = [p for p in _leaf_panels(docs[SLA]) if p["title"].startswith("Burn rate: ")]
    assert len(burns) == len(slo_file.slos)
    for panel in burns:
        exprs = " ".join(t["expr"] for t in panel["targets"])
        for window in ("1h", "6h", "3d"):
            assert f"cxr_slo:burn_rate:{window}{{" in exprs, panel["title"]
        assert _steps(panel) == [1, 6, 14.4]
    data = _raw_slos()
    data["burn_rate_alerts"] = [
        {"severity": "page", "budget_spent": 0.05, "long_window": "3h",
         "short_window": "10m"}]
    changed = [p for p in _leaf_panels(_sla(SloFile.model_validate(data)))
               if p["title"].startswith("Burn rate: ")]
    for panel in changed:  # 5 % of a 30-day budget in 3 h: 12x
        assert _steps(panel) == [12]
        assert [t["legendFormat"].split()[0] for t in panel["targets"]] == ["10m", "3h"]


def test_error_budgets_cover_every_slo(slo_file: SloFile,
                                       docs: dict[str, dict[str, Any]]) -> None:
    panel = _panel(docs[SLA], "Error budget remaining")
    exprs = [t["expr"] for t in panel["targets"]]
    assert exprs == [
        f'cxr_slo:error_budget:remaining_ratio{{slo="{s.name}"'
        + (',channel=~"$channel"}' if s.per_channel else "}") for s in slo_file.slos]
    assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"


def test_lag_thresholds_follow_the_alerts(docs: dict[str, dict[str, Any]]) -> None:
    assert _steps(_panel(docs[DETAIL], "Consumer lag per partition (age)")) == [30]
    data = _raw_slos()
    data["alerts"]["lag_age"]["seconds"] = 20
    detail = json.loads(dashboards.files(SloFile.model_validate(data))[DETAIL])
    assert _steps(_panel(detail, "Consumer lag per partition (age)")) == [20, 30]


def test_detail_covers_the_pipeline(docs: dict[str, dict[str, Any]]) -> None:
    exprs = " ".join(e for _, e in panel_queries(docs[DETAIL]))
    for needle in ("cxr_hop_latency_seconds_bucket", "max by (topic, partition) "
                   "(cxr_consumer_lag_records)", "max by (topic, partition) "
                   "(cxr_consumer_lag_seconds)", "sum by (reason) (rate(cxr_dead_letters_total",
                   "sum by (channel, field) (increase(cxr_missing_fields_total",
                   'outcome="duplicate"', "cxr_worker_rebalances_total",
                   "cxr_consumer_group_members", "cxr_worker_assigned_partitions",
                   'cxr_edge_requests_total{handler="webhook"}', "cxr_edge_requests_in_flight",
                   "cxr_edge_broker_ready", "cxr_fanout_records_total",
                   'process_cpu_seconds_total{job=~"cxr-edge|cxr-worker"}',
                   'process_resident_memory_bytes{job=~"cxr-edge|cxr-worker"}'):
        assert needle in exprs, needle
    rows = [p["title"] for p in docs[DETAIL]["panels"] if p["type"] == "row"]
    assert len(rows) >= 5


def test_panel_queries_includes_panels_nested_in_rows(docs: dict[str, dict[str, Any]]) -> None:
    for document in docs.values():
        flat = panel_queries(document)
        assert len(flat) == sum(len(p["targets"]) for p in _leaf_panels(document))
        # Collapse every row: its panels move inside it, as Grafana saves collapsed rows.
        collapsed = copy.deepcopy(document)
        top: list[dict[str, Any]] = []
        for panel in collapsed["panels"]:
            if panel["type"] == "row":
                panel["collapsed"] = True
                top.append(panel)
            else:
                top[-1]["panels"].append(panel)
        collapsed["panels"] = top
        assert all(p["type"] == "row" for p in collapsed["panels"])
        assert panel_queries(collapsed) == flat


def test_layout_fits_the_grid_without_overlaps(docs: dict[str, dict[str, Any]]) -> None:
    for document in docs.values():
        ids = [p["id"] for p in document["panels"]]
        assert len(set(ids)) == len(ids) and 0 not in ids
        taken: set[tuple[int, int]] = set()
        for panel in document["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, panel["title"]
            cells = {(pos["x"] + dx, pos["y"] + dy)
                     for dx in range(pos["w"]) for dy in range(pos["h"])}
            assert not cells & taken, panel["title"]
            taken |= cells


def test_provisioning_files(files: dict[str, str]) -> None:
    for path in (DATASOURCES, PROVIDERS):
        assert files[path].startswith(HEADER)
    datasources = yaml.safe_load(files[DATASOURCES])
    assert datasources["apiVersion"] == 1
    [source] = datasources["datasources"]
    assert (source["name"], source["uid"], source["type"], source["url"]) == (
        "Prometheus", "cxr-prometheus", "prometheus", "http://localhost:9090")
    providers = yaml.safe_load(files[PROVIDERS])
    assert providers["apiVersion"] == 1
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "cxone-router"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/cxr"
    comments = [line for line in files[PROVIDERS].splitlines() if line.startswith("#")]
    assert any("grafana/dashboards" in line and "/var/lib/grafana/dashboards/cxr" in line
               for line in comments)
    # The dashboards' data source variable defaults to the provisioned data source.
    for path in (SLA, DETAIL):
        variables = json.loads(files[path])["templating"]["list"]
        assert variables[0]["current"]["value"] == source["uid"]


def test_the_first_row_says_whether_something_is_wrong_now(
        slo_file: SloFile, docs: dict[str, dict[str, Any]]) -> None:
    """Firing pages and tickets, every SLO's burn rate now and intake against processed
    come first, above the 30-day budgets; firing alerts are annotations on the graphs."""
    panels = docs[SLA]["panels"]
    assert panels[0]["type"] == "row" and panels[0]["title"] == "Now"
    first = [p["title"] for p in panels[1:4]]
    assert first == ["Firing alerts", "Burn rate now (1h)", "Intake versus processed"]
    assert all(p["gridPos"]["y"] == panels[1]["gridPos"]["y"] for p in panels[1:4])
    exprs = [t["expr"] for t in panels[1]["targets"]]
    assert exprs == [f'count(ALERTS{{alertstate="firing",alertname=~"Cxr.*",'
                     f'severity="{s}"}}) or vector(0)' for s in ("page", "ticket")]
    burn = " ".join(t["expr"] for t in panels[2]["targets"])
    assert all(f'cxr_slo:burn_rate:1h{{slo="{s.name}"}}' in burn for s in slo_file.slos)
    assert _steps(panels[2]) == [1, 6, 14.4]
    intake = {t["legendFormat"]: t["expr"] for t in panels[3]["targets"]}
    assert 'status=~"2.."' in intake["accepted"] and "cxr_events_total" in intake["processed"]
    annotations = [a for a in docs[SLA]["annotations"]["list"] if a.get("expr")]
    assert [a["expr"] for a in annotations] == ['ALERTS{alertstate="firing",alertname=~"Cxr.*"}']


def test_every_panel_links_its_runbook_section(docs: dict[str, dict[str, Any]]) -> None:
    runbook = Path("docs/runbook.md").read_text()
    anchors = {rules.runbook_anchor(h) for h in re.findall(r"^#+ (.+)$", runbook, re.M)}
    for panel in _leaf_panels(docs[SLA]) + _leaf_panels(docs[DETAIL]):
        links = panel.get("links") or []
        assert len(links) == 1, panel["title"]
        path, _, anchor = links[0]["url"].partition("#")
        assert path == "docs/runbook.md" and anchor in anchors, (panel["title"], anchor)
