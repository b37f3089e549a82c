"""Prometheus metrics: names follow Prometheus conventions (`_seconds`, `_total`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets from 0.5 ms to 10 s: the SLA dashboards care about 1-100 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

EDGE_REQUESTS = Counter(
    "cxr_edge_requests_total", "Webhook requests answered by the edge, by HTTP status", ["status"]
)
EDGE_REQUEST_SECONDS = Histogram(
    "cxr_edge_request_seconds", "Time from request received to answer sent", buckets=LATENCY_BUCKETS
)
EDGE_PUBLISH_SECONDS = Histogram(
    "cxr_edge_publish_seconds", "Time for the broker to acknowledge a raw webhook (acks=all)",
    buckets=LATENCY_BUCKETS,
)
EVENTS = Counter(
    "cxr_events_total", "Events handled by the worker, by stage and outcome", ["stage", "outcome"]
)
PIPELINE_LATENCY_SECONDS = Histogram(
    "cxr_pipeline_latency_seconds",
    "Time from edge receive until the channel and fan-out records were acknowledged",
    buckets=LATENCY_BUCKETS,
)
DEDUP_KEYS = Gauge("cxr_dedup_keys", "Idempotency keys held by this worker's dedup table")
DEDUP_PURGED = Counter("cxr_dedup_purged_total", "Idempotency keys forgotten after their TTL")
DELIVERY_RETRIES = Counter(
    "cxr_delivery_retries_total", "Output writes retried after the broker refused or timed out"
)
