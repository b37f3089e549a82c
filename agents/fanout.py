"""Fan-out: the consumer-topic records for one normalized record, one per matching route."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.delivery import Output
from pipeline.kafka.headers import Headers
from pipeline.routing import Route


class RoutingError(Exception):
    """A route's filter failed on a record (a bug in schemas/routes.json): the event is
    dead-lettered whole, so a replay after the fix writes all its outputs once."""

    reason = "processing_error"


class Fanout:
    def __init__(self, routes: Sequence[Route], route_topics: dict[str, str]) -> None:
        self._routes = [(r, route_topics[r.name]) for r in routes]
        self.route_of_topic = {topic: route.name for route, topic in self._routes}

    def outputs(self, record: dict[str, Any], key: bytes, value: bytes,
                headers: Headers) -> list[Output]:
        """The record (already serialized as `value`) for every route that matches it."""
        outputs = []
        for route, topic in self._routes:
            try:
                matched = route.matches(record)
            except Exception as exc:  # noqa: BLE001 - becomes a dead letter, with the route
                raise RoutingError(f"route {route.name!r}: {type(exc).__name__}: {exc}") from exc
            if matched:
                outputs.append(Output(topic, key, value, headers))
        return outputs
