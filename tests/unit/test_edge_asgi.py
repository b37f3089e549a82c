"""The edge's outermost ASGI layer: whatever happens inside, the answer is counted once.

Invariants: an error escaping the handler is answered 500, logged once and counted; an
error after the answer started is counted with the status sent; a client gone mid-body is
499, without a traceback; requests in flight go back to zero.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from cxone_router.edge.asgi import measured
from cxone_router.edge.metrics import EdgeMetrics


def count(metrics: EdgeMetrics, handler: str, status: str) -> float:
    value = metrics.registry.get_sample_value(
        "cxr_edge_requests_total", {"handler": handler, "status": status})
    return value or 0.0


async def call(app: Any, path: str, method: str = "POST") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": method, "path": path, "headers": [],
             "query_string": b"", "root_path": "", "scheme": "http",
             "server": ("127.0.0.1", 8080), "http_version": "1.1"}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def status_of(sent: list[dict[str, Any]]) -> int:
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def build(handler: Any) -> tuple[Any, EdgeMetrics]:
    metrics = EdgeMetrics(registry=CollectorRegistry())

    async def ok(request: Request) -> Response:
        return Response(b"ok")

    async def broken(request: Request) -> Response:
        raise RuntimeError("bug outside the webhook handler")

    starlette = Starlette(routes=[Route("/healthz", ok), Route("/readyz", broken)])
    return measured(starlette, handler, metrics), metrics


def test_an_error_escaping_the_webhook_handler_is_answered_500_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    async def handler(request: Request) -> Response:
        raise UnicodeEncodeError("ascii", "é", 0, 1, "non-ASCII signature")

    app, metrics = build(handler)
    with caplog.at_level(logging.ERROR, "cxone_router.edge.asgi"):
        sent = asyncio.run(call(app, "/webhooks/cxone"))
    assert status_of(sent) == 500
    assert count(metrics, "webhook", "500") == 1
    assert len([r for r in caplog.records if r.exc_info]) == 1
    assert metrics.in_flight == 0


def test_an_error_in_the_starlette_app_is_counted_with_the_500_it_sent() -> None:
    async def handler(request: Request) -> Response:
        return Response(b"", 202)

    app, metrics = build(handler)
    sent = asyncio.run(call(app, "/readyz", "GET"))
    assert status_of(sent) == 500
    assert count(metrics, "readyz", "500") == 1
    assert sum(1 for m in sent if m["type"] == "http.response.start") == 1


def test_a_client_gone_mid_body_is_499_without_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    async def handler(request: Request) -> Response:
        raise ClientDisconnect()

    app, metrics = build(handler)
    with caplog.at_level(logging.DEBUG):
        sent = asyncio.run(call(app, "/webhooks/cxone"))
    assert sent == []
    assert count(metrics, "webhook", "499") == 1
    assert not [r for r in caplog.records if r.exc_info]


def test_answers_are_timed_and_in_flight_returns_to_zero() -> None:
    async def handler(request: Request) -> Response:
        return Response(b"{}", 202)

    app, metrics = build(handler)
    for _ in range(3):
        asyncio.run(call(app, "/webhooks/cxone"))
    asyncio.run(call(app, "/healthz", "GET"))
    asyncio.run(call(app, "/elsewhere", "GET"))
    sample = metrics.registry.get_sample_value
    assert sample("cxr_edge_request_seconds_count", {"handler": "webhook", "status": "202"}) == 3
    assert count(metrics, "healthz", "200") == 1
    assert count(metrics, "other", "404") == 1
    assert metrics.in_flight == 0
    assert sample("cxr_edge_requests_in_flight") == 0
