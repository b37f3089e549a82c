"""Fan-out outputs: one record per matching route, the same bytes, key and headers (for
routes that redact nothing; redaction is tests/unit/test_redaction.py's)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cxone_router.agents.fanout import Fanout, RoutingError
from cxone_router.routing import Route, load_routes
from tests.unit.test_routing import SCHEMAS, record


def fanout(routes: tuple[Route, ...]) -> Fanout:
    return Fanout(routes, {r.name: f"cxone.fanout.{r.name}" for r in routes})


def test_every_matching_route_gets_the_record_unchanged() -> None:
    rec = record("sms", "interaction.completed")
    headers = [("cxr-request-id", b"r1")]
    routes = tuple(dataclasses.replace(r, redact=()) for r in load_routes(SCHEMAS))
    outputs = fanout(routes).outputs(rec, b"int-1", b"{...}", headers)
    assert [o.topic for o in outputs] == [
        "cxone.fanout.analytics", "cxone.fanout.crm-sync", "cxone.fanout.notification"]
    assert {(o.key, o.value, tuple(o.headers or ())) for o in outputs} == {
        (b"int-1", b"{...}", (("cxr-request-id", b"r1"),))}


def test_no_matching_route_means_no_output() -> None:
    never = Route("never", (lambda rec: False,))
    assert fanout((never,)).outputs(record("voice", "x"), b"k", b"v", []) == []


def test_a_failing_filter_names_its_route() -> None:
    def broken(rec: dict[str, Any]) -> bool:
        raise TypeError("'<' not supported")

    with pytest.raises(RoutingError, match="route 'crm-sync': TypeError") as caught:
        fanout((Route("analytics", ()), Route("crm-sync", (broken,)))).outputs(
            record("voice", "x"), b"k", b"v", [])
    assert caught.value.reason == "processing_error"
