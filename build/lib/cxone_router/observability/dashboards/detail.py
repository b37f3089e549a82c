"""The pipeline detail: where events are, how long each hop takes, what goes wrong.

Rows: edge, flow, latency, consumer lag, data quality, workers, processes.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as model

from cxone_router.observability.dashboards.common import (
    CHANNEL,
    RATE,
    PanelBuilder,
    Section,
    Target,
    build_dashboard,
    histogram_quantile,
    number,
    stat_panel,
    timeseries_panel,
)
from cxone_router.observability.dashboards.sla import runbook
from cxone_router.observability.slo import SloFile

UID = "cxr-pipeline-detail"
TITLE = "cxone-router / pipeline detail"
QUANTILES = (("p50", 0.5), ("p99", 0.99))


def _quantiles(metric: str, by: str, legend: str, selector: str = "") -> list[Target]:
    return [Target(f"{label} {legend}".strip(), histogram_quantile(q, metric, by, selector))
            for label, q in QUANTILES]


def edge() -> list[PanelBuilder]:
    ready = model.ValueMap(options={
        "0": model.ValueMappingResult(text="not ready", color="red", index=0),
        "1": model.ValueMappingResult(text="ready", color="green", index=1)})
    return [
        timeseries_panel(
            "Webhook answers by status",
            "Webhooks the edge answered per second, by HTTP status: 202 accepted, 4xx "
            "rejected (the sender's fault), 5xx failed (the edge's), 499 the client went away.",
            "reqps",
            [Target("{{status}}", 'sum by (status) (rate(cxr_edge_requests_total'
                                  f'{{handler="webhook"}}[{RATE}]))')]),
        timeseries_panel(
            "Edge answer and broker ack latency",
            "Answer: from receiving a webhook until the answer is sent. Broker ack: from "
            "publishing the raw record until the broker acknowledges it.", "s",
            _quantiles("cxr_edge_request_seconds", "le", "answer", 'handler="webhook"')
            + _quantiles("cxr_edge_publish_seconds", "le", "broker ack")),
        timeseries_panel(
            "Edge requests in flight",
            "Requests the edge is handling right now, per edge instance.", "short",
            [Target("{{instance}}", "sum by (instance) (cxr_edge_requests_in_flight)")]),
        stat_panel(
            "Edge broker ready",
            "Whether each edge instance can publish to the broker (raw topic reachable). "
            "Not ready: webhooks are answered 503 and senders retry.", "none",
            [Target("{{instance}}", "min by (instance) (cxr_edge_broker_ready)")],
            base="red", steps=[(1, "green")], mappings=[ready]),
    ]


def flow() -> list[PanelBuilder]:
    def events(outcomes: str) -> str:
        match = "=~" if "|" in outcomes else "="
        return f'sum(rate(cxr_events_total{{outcome{match}"{outcomes}",{CHANNEL}}}[{RATE}]))'

    return [
        timeseries_panel(
            "Events by outcome",
            "Raw events the workers processed per second: normalized (published to their "
            "channel topic), duplicate (dropped), dead_lettered.", "ops",
            [Target("{{outcome}}", f"sum by (outcome) (rate(cxr_events_total{{{CHANNEL}}}"
                                   f"[{RATE}]))")]),
        timeseries_panel(
            "Fan-out records by route",
            "Records published per second to each fan-out route's topic.", "ops",
            [Target("{{route}}", f"sum by (route) (rate(cxr_fanout_records_total[{RATE}]))")]),
        timeseries_panel(
            "Dedup hit ratio",
            "Share of events dropped as duplicates (CXone redelivers): duplicates / "
            "(normalized + duplicates).", "percentunit",
            [Target("duplicates", f"{events('duplicate')} / {events('normalized|duplicate')}")]),
    ]


def latency() -> list[PanelBuilder]:
    return [timeseries_panel(
        "Latency by hop",
        "p50 and p99 of each hop: edge (receive to raw record acknowledged), queue (raw "
        "record waiting on its partition), worker (processing until the channel and fan-out "
        "records are acknowledged).", "s",
        _quantiles("cxr_hop_latency_seconds", "le, hop", "{{hop}}"))]


def lag(slo_file: SloFile) -> list[PanelBuilder]:
    levels = {slo_file.alerts.lag_age.seconds}
    levels |= {s.threshold_seconds or 0 for s in slo_file.of_kind("freshness")}
    steps = [(level, "orange") for level in sorted(levels)[:-1]]
    steps.append((max(levels), "red"))
    freshness = ", ".join(f"{s.title} threshold {number(s.threshold_seconds or 0)} s"
                          for s in slo_file.of_kind("freshness"))
    return [
        timeseries_panel(
            "Consumer lag per partition (records)",
            "Raw records not yet processed by the worker group, per topic and partition.",
            "short",
            [Target("{{topic}} [{{partition}}]",
                    "max by (topic, partition) (cxr_consumer_lag_records)")]),
        timeseries_panel(
            "Consumer lag per partition (age)",
            "Age of the oldest raw record not yet processed, per topic and partition. "
            f"Dashed lines: the lag alert (CxrConsumerLagHigh above "
            f"{number(slo_file.alerts.lag_age.seconds)} s)"
            + (f" and the {freshness}." if freshness else "."), "s",
            [Target("{{topic}} [{{partition}}]",
                    "max by (topic, partition) (cxr_consumer_lag_seconds)")],
            steps=steps),
    ]


def quality() -> list[PanelBuilder]:
    return [
        timeseries_panel(
            "Dead letters by reason",
            "Events sent to the dead-letter topic per second, by reason.", "ops",
            [Target("{{reason}}", f"sum by (reason) (rate(cxr_dead_letters_total[{RATE}]))")]),
        timeseries_panel(
            "Schema drift: missing fields",
            "Records that arrived without a mapped field, by channel and field: CXone moved "
            "or dropped it. Records still flow, with the field listed in missingFields.",
            "short",
            [Target("{{channel}} {{field}}", "sum by (channel, field) (increase("
                    f"cxr_missing_fields_total{{{CHANNEL}}}[{RATE}]))")]),
    ]


def workers(slo_file: SloFile) -> list[PanelBuilder]:
    expected = slo_file.alerts.expected_workers
    return [
        stat_panel(
            "Worker group members",
            f"Members of the worker group; {expected} expected (CxrWorkersBelowExpected "
            "pages below).", "none",
            [Target("{{group}}", "max by (group) (cxr_consumer_group_members)")],
            base="red", steps=[(expected, "green")]),
        timeseries_panel(
            "Assigned partitions per worker",
            "Raw-topic partitions each worker owns.", "short",
            [Target("{{instance}}", "sum by (instance) (cxr_worker_assigned_partitions)")]),
        timeseries_panel(
            "Rebalances per worker",
            "Group rebalances each worker went through (a worker joined, left or stalled).",
            "short",
            [Target("{{instance}}", "sum by (instance) (increase(cxr_worker_rebalances_total"
                                    f"[{RATE}]))")]),
        timeseries_panel(
            "Dedup keys per worker",
            "Event ids each worker remembers to drop duplicates, and keys purged per second "
            "as they expire.", "short",
            [Target("{{instance}} keys", "sum by (instance) (cxr_dedup_keys)"),
             Target("{{instance}} purged/s", "sum by (instance) (rate(cxr_dedup_purged_total"
                                             f"[{RATE}]))", dashed=True)]),
    ]


def processes(slo_file: SloFile) -> list[PanelBuilder]:
    jobs = f'job=~"{slo_file.scrape.edge_job}|{slo_file.scrape.worker_job}"'
    return [
        timeseries_panel(
            "CPU per instance",
            "CPU time used per second by each edge and worker process (100 % = one core).",
            "percentunit",
            [Target("{{job}} {{instance}}", "sum by (job, instance) (rate("
                                            f"process_cpu_seconds_total{{{jobs}}}[{RATE}]))")]),
        timeseries_panel(
            "Memory per instance",
            "Resident memory of each edge and worker process.", "bytes",
            [Target("{{job}} {{instance}}",
                    f"sum by (job, instance) (process_resident_memory_bytes{{{jobs}}})")]),
    ]


# The runbook section each panel helps with (by the start of its title).
RUNBOOK = (
    ("Webhook answers", "CxrEdgeAvailabilityBudgetBurn"),
    ("Edge answer and broker ack", "CxrEdgePublishFailing"),
    ("Edge requests in flight", "CxrEdgeAvailabilityBudgetBurn"),
    ("Edge broker ready", "CxrEdgeNotReady"),
    ("Latency by hop", "CxrEndToEndLatencyBudgetBurn"),
    ("Consumer lag", "CxrConsumerLagHigh"),
    ("Dead letters", "CxrDeadLetters"),
    ("Schema drift", "CxrSchemaDrift"),
    ("Worker group", "CxrWorkersBelowExpected"),
    ("Assigned partitions", "CxrWorkersBelowExpected"),
    ("Rebalances", "CxrWorkersBelowExpected"),
    ("CPU", "CxrWorkerDown"),
    ("Memory", "CxrWorkerDown"),
)


def _linked(slo_file: SloFile, panels: list[PanelBuilder]) -> list[PanelBuilder]:
    """Each panel with its runbook section; events and dedup panels with processing's."""
    out = []
    for panel in panels:
        title = panel.build().title or ""
        heading = next((h for start, h in RUNBOOK if title.startswith(start)),
                       "CxrProcessingStalled")
        out.append(runbook(slo_file, panel, heading))
    return out


def dashboard(slo_file: SloFile) -> model.Dashboard:
    def linked(panels: list[PanelBuilder]) -> list[PanelBuilder]:
        return _linked(slo_file, panels)
    return build_dashboard(
        UID, TITLE,
        "Where events are in cxone-router, how long each hop takes and what goes wrong. "
        "Generated from schemas/slos.json.",
        [
            Section("Edge", linked(edge())),
            Section("Flow", linked(flow()), per_line=3),
            Section("Latency", linked(latency()), per_line=1),
            Section("Consumer lag", linked(lag(slo_file))),
            Section("Data quality", linked(quality())),
            Section("Workers", linked(workers(slo_file))),
            Section("Processes", linked(processes(slo_file))),
        ],
    )
