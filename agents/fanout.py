"""Fan-out: a normalized record -> every consumer topic whose route matches it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson

from agents.delivery import Output, Writer
from pipeline import metrics
from pipeline.dlq import dead_letter_headers
from pipeline.kafka.headers import as_dict, received_ns
from pipeline.routing import Route

log = logging.getLogger(__name__)
STAGE = "fanout"


class Fanout:
    def __init__(self, routes: Sequence[Route], route_topics: dict[str, str], dlq_topic: str,
                 writer: Writer) -> None:
        self._routes = [(r, route_topics[r.name]) for r in routes]
        self._dlq = dlq_topic
        self._writer = writer

    async def handle(self, events: Sequence[Any]) -> None:
        outputs: list[Output] = []
        latencies: list[int] = []
        for event in events:
            message = event.message
            headers = as_dict(message.headers)
            try:
                record = orjson.loads(message.value)
                forwarded = list(headers.items())
                for route, topic in self._routes:
                    if route.matches(record):
                        outputs.append(Output(topic, message.key, message.value, forwarded))
            except Exception as exc:  # noqa: BLE001 - nothing may escape an agent
                log.exception("fan-out failed", extra={"offset": message.offset})
                metrics.EVENTS.labels(STAGE, "processing_error").inc()
                outputs.append(Output(self._dlq, message.key, message.value or b"",
                                      dead_letter_headers(
                                          reason="processing_error", stage=STAGE, error=exc,
                                          source_topic=message.topic,
                                          source_partition=message.partition,
                                          source_offset=message.offset, source_headers=headers)))
                continue
            metrics.EVENTS.labels(STAGE, "routed").inc()
            if (ns := received_ns(headers)) is not None:
                latencies.append(ns)
        await self._writer.deliver(outputs)
        done_ns = time.time_ns()
        for ns in latencies:
            metrics.PIPELINE_LATENCY_SECONDS.labels("fanout").observe((done_ns - ns) / 1e9)
