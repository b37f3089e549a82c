"""The edge's metrics: every answer by handler and status, the edge hop, the broker's ack.

Label children are looked up once and kept: the webhook path pays a dict lookup per
observation, not prometheus_client's label handling.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cxone_router.edge import WEBHOOK_PATH
from cxone_router.metrics import latency_buckets, new_registry

WEBHOOK = "webhook"
# A trailing slash is the same webhook (a sender's base URL ending in "/"), not a redirect
HANDLERS = {WEBHOOK_PATH: WEBHOOK, WEBHOOK_PATH + "/": WEBHOOK, "/healthz": "healthz",
            "/readyz": "readyz", "/metrics": "metrics"}
OTHER = "other"
# Answers the webhook handler gives, created at start-up so rates exist from the first
# scrape (a counter that appears at 1 hides its first increase from rate()).
WEBHOOK_STATUSES = ("202", "400", "401", "408", "413", "415", "429", "431", "499", "500",
                    "503")


def handler_of(path: str) -> str:
    return HANDLERS.get(path, OTHER)


class EdgeMetrics:
    def __init__(self, thresholds: tuple[float, ...] = (),
                 registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry("edge")
        buckets = latency_buckets(thresholds)
        r = self.registry
        self._requests = Counter(
            "cxr_edge_requests_total", "Answers the edge gave, by handler and HTTP status "
            "(uvicorn's own 503s and errors raised outside the handler included)",
            ["handler", "status"], registry=r)
        self._request_seconds = Histogram(
            "cxr_edge_request_seconds", "Time from request received to answer sent, by "
            "handler and HTTP status", ["handler", "status"], buckets=buckets, registry=r)
        self.publish_seconds = Histogram(
            "cxr_edge_publish_seconds", "Time for the broker to acknowledge a raw webhook "
            "(acks=all)", buckets=buckets, registry=r)
        self._publish_errors = Counter(
            "cxr_edge_publish_errors_total", "Raw webhooks the broker did not acknowledge in "
            "time (answered 503), by error class", ["error"], registry=r)
        self.edge_hop = Histogram(
            "cxr_hop_latency_seconds", "Time spent in one hop of the pipeline: edge (receive "
            "until the broker acknowledged the raw record)", ["hop"], buckets=buckets,
            registry=r).labels("edge")
        self.in_flight = 0
        Gauge("cxr_edge_requests_in_flight", "Requests the edge is handling now",
              registry=r).set_function(lambda: self.in_flight)
        self.broker_ready = Gauge(
            "cxr_edge_broker_ready", "1 when the broker answers and the raw topic exists "
            "(checked every few seconds), else 0", registry=r)
        self.raw_under_replicated = Gauge(
            "cxr_edge_raw_partitions_under_replicated", "Partitions of the raw topic with "
            "fewer in-sync replicas than replicas (checked with readiness)", registry=r)
        self.raw_under_min_isr = Gauge(
            "cxr_edge_raw_partitions_under_min_isr", "Partitions of the raw topic with fewer "
            "in-sync replicas than min.insync.replicas: every write to them is refused "
            "(checked with readiness)", registry=r)
        self._answers: dict[tuple[str, int], tuple[Any, Any]] = {}
        for status in WEBHOOK_STATUSES:
            self.answer(WEBHOOK, int(status))

    def answer(self, handler: str, status: int) -> tuple[Any, Any]:
        """The (counter, histogram) children of one handler and status."""
        children = self._answers.get((handler, status))
        if children is None:
            label = str(status)
            children = (self._requests.labels(handler, label),
                        self._request_seconds.labels(handler, label))
            self._answers[(handler, status)] = children
        return children

    def answered(self, handler: str, status: int, seconds: float) -> None:
        counter, histogram = self.answer(handler, status)
        counter.inc()
        histogram.observe(seconds)

    def publish_failed(self, error: str) -> None:
        self._publish_errors.labels(error).inc()
