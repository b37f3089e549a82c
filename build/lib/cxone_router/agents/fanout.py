"""Fan-out: the consumer-topic records for one normalized record, one per matching route,
redacted as the route says (pipeline/redaction.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cxone_router.agents.delivery import Output
from cxone_router.dlq import DeadLetterError
from cxone_router.kafka.headers import Headers
from cxone_router.redaction import DEV_REDACTION_KEY, RedactionPlan
from cxone_router.routing import Route

if TYPE_CHECKING:
    from cxone_router.kafka.topics import Topics
    from cxone_router.settings import Settings


class RoutingError(DeadLetterError):
    """A route's filter failed on a record (a bug in schemas/routes.json): the event is
    dead-lettered whole (a processing error), so a replay after the fix writes all its
    outputs once."""


class Fanout:
    def __init__(self, routes: Sequence[Route], route_topics: dict[str, str],
                 redaction_key: bytes | None = None) -> None:
        """Redaction plans are compiled here, once; routes that redact alike share one (and
        its serialized record). A route that hashes without a key stops start-up."""
        plans: dict[tuple[tuple[str, str], ...], RedactionPlan] = {}
        for r in routes:
            if r.redact and r.redact not in plans:
                plans[r.redact] = RedactionPlan(r.redact, redaction_key, r.name)
        self._routes = [(r, route_topics[r.name], plans.get(r.redact)) for r in routes]
        self._shared = len(plans) < sum(1 for r in routes if r.redact)
        self.route_of_topic = {topic: route.name for route, topic, _ in self._routes}

    def outputs(self, record: dict[str, Any], key: bytes, value: bytes,
                headers: Headers) -> list[Output]:
        """The record (already serialized as `value`) for every route that matches it:
        those bytes themselves for a route that redacts nothing, else the redacted record
        with a `cxr-redacted` header."""
        outputs = []
        done: dict[int, bytes] | None = {} if self._shared else None
        for route, topic, plan in self._routes:
            if route.filters:  # a route without filters takes every record
                try:
                    matched = route.matches(record)
                except Exception as exc:  # noqa: BLE001 - a dead letter, naming the route
                    raise RoutingError(
                        f"route {route.name!r}: {type(exc).__name__}: {exc}") from exc
                if not matched:
                    continue
            if plan is None:
                outputs.append(Output(topic, key, value, headers))
                continue
            if done is None:
                redacted = plan.apply(record, value)
            else:
                cached = done.get(id(plan))
                if cached is None:
                    cached = done[id(plan)] = plan.apply(record, value)
                redacted = cached
            outputs.append(Output(topic, key, redacted, [*headers, plan.header]))
        return outputs


def fanout_of(settings: Settings, routes: Sequence[Route], topics: Topics) -> Fanout:
    """The workers' fan-out: each route to its topic, redacted under CXR_REDACTION_KEY (so
    that `reprocess` hashes as the workers do)."""
    key = settings.redaction_key.get_secret_value() if settings.redaction_key else None
    return Fanout(routes, {r.name: topics.fanout(r.name) for r in routes},
                  key.encode() if key else None)



def warn_of_the_dev_key(settings: Settings, routes: Sequence[Route]) -> None:
    """One warning when routes hash under the dev-only key (the worker says it after its
    start line, once its port is known to be free; reprocess before it writes)."""
    key = settings.redaction_key.get_secret_value() if settings.redaction_key else None
    if key == DEV_REDACTION_KEY and any(r.redact for r in routes):
        logging.getLogger(__name__).warning(
            "CXR_REDACTION_KEY is the dev-only default: fan-out hashes are not secret")