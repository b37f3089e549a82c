"""A worker's metrics: events by channel and outcome, dead letters, fan-out, drift,
end-to-end and per-hop latency, delivery retries, the dedup table and rebalances.

Every label combination the worker knows at start-up (channels, outcomes, reasons, routes,
mapped fields) is created at zero, so a dashboard shows it and `increase()` sees its first
event. Counts are added once per batch; latencies are observed per event.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cxone_router.dlq import Reason
from cxone_router.metrics import latency_buckets, new_registry

NORMALIZED, DUPLICATE, DEAD_LETTERED = "normalized", "duplicate", "dead_lettered"
OUTCOMES = (NORMALIZED, DUPLICATE, DEAD_LETTERED)
UNKNOWN_CHANNEL = "unknown"  # a dead letter whose channel could not be told


@dataclass(slots=True)
class BatchCounts:
    """What a batch adds to the counters: counted while the batch runs, added once."""

    events: Tally[tuple[str, str]] = field(default_factory=Tally)  # (channel, outcome)
    dead_letters: Tally[str] = field(default_factory=Tally)  # reason
    fanout: Tally[str] = field(default_factory=Tally)  # route
    missing: Tally[tuple[str, str]] = field(default_factory=Tally)  # (channel, field)


class WorkerMetrics:
    def __init__(self, channel_fields: Mapping[str, Iterable[str]], routes: Iterable[str],
                 thresholds: tuple[float, ...] = (),
                 registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else new_registry("worker")
        r = self.registry
        buckets = latency_buckets(thresholds)
        self._events = Counter(
            "cxr_events_total", "Raw events the worker handled, by channel and outcome "
            "(normalized, duplicate, dead_lettered)", ["channel", "outcome"], registry=r)
        self._dead_letters = Counter(
            "cxr_dead_letters_total", "Events written to the dead-letter topic, by reason",
            ["reason"], registry=r)
        self._fanout = Counter(
            "cxr_fanout_records_total", "Records written to fan-out topics, by route",
            ["route"], registry=r)
        self._missing = Counter(
            "cxr_missing_fields_total", "Normalized records in which a mapped field resolved "
            "to nothing (schema drift), by channel and field", ["channel", "field"],
            registry=r)
        self._end_to_end = Histogram(
            "cxr_end_to_end_latency_seconds", "Time from the edge receiving an event until "
            "its channel and fan-out records were acknowledged, by channel", ["channel"],
            buckets=buckets, registry=r)
        hops = Histogram(
            "cxr_hop_latency_seconds", "Time spent in one hop of the pipeline: queue (raw "
            "record's timestamp until the worker picks it up), worker (pick-up until its "
            "outputs are acknowledged)", ["hop"], buckets=buckets, registry=r)
        self.queue_hop, self.worker_hop = hops.labels("queue"), hops.labels("worker")
        self._retries = Counter(
            "cxr_delivery_retries_total", "Output writes retried after the broker refused "
            "or timed out, by error class", ["error"], registry=r)
        self._refused = Counter(
            "cxr_delivery_refused_total", "Output records the broker refused for good (too "
            "large, corrupt): not retried, their events dead-lettered instead, by topic and "
            "error class", ["topic", "error"], registry=r)
        self.dedup_keys = Gauge(
            "cxr_dedup_keys", "Idempotency keys held by this worker's dedup table",
            registry=r)
        self.dedup_purged = Counter(
            "cxr_dedup_purged_total", "Idempotency keys forgotten after their TTL",
            registry=r)
        self.rebalances = Counter(
            "cxr_worker_rebalances_total", "Consumer group rebalances this worker took part "
            "in", registry=r)
        self.assigned_partitions = Gauge(
            "cxr_worker_assigned_partitions", "Partitions of the raw topic assigned to this "
            "worker", registry=r)

        channels = list(channel_fields)
        self._by_channel = {c: self._end_to_end.labels(c) for c in channels}
        for channel in [*channels, UNKNOWN_CHANNEL]:
            for outcome in OUTCOMES:
                self._events.labels(channel, outcome)
        for reason in Reason:
            self._dead_letters.labels(reason)
        for route in routes:
            self._fanout.labels(route)
        for channel, fields in channel_fields.items():
            for name in fields:
                self._missing.labels(channel, name)

    def count_batch(self, counts: BatchCounts) -> None:
        for (channel, outcome), n in counts.events.items():
            self._events.labels(channel, outcome).inc(n)
        for reason, n in counts.dead_letters.items():
            self._dead_letters.labels(reason).inc(n)
        for route, n in counts.fanout.items():
            self._fanout.labels(route).inc(n)
        for (channel, name), n in counts.missing.items():
            self._missing.labels(channel, name).inc(n)

    def end_to_end(self, channel: str, seconds: float) -> None:
        histogram = self._by_channel.get(channel)
        if histogram is None:
            histogram = self._by_channel[channel] = self._end_to_end.labels(channel)
        histogram.observe(seconds)

    def retried(self, error: str, n: int) -> None:
        self._retries.labels(error).inc(n)

    def refused(self, topic: str, error: str, n: int) -> None:
        self._refused.labels(topic, error).inc(n)
