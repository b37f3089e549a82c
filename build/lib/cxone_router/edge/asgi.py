"""The edge's outermost ASGI layer: every answer is measured, whoever gives it.

`POST /webhooks/cxone` goes straight to its handler, past Starlette's middleware and
router (about a third of the edge's CPU per request); everything else goes through the
Starlette app. Either way the answer is counted and timed by handler and status. An error
that escapes is logged once and answered 500 (if nothing was sent yet), a client that
left mid-request is counted as 499 (nginx's convention) without a traceback, and uvicorn's
own 503s (the connection cap) are counted by `count_uvicorn_rejections`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxone_router.edge.metrics import WEBHOOK, EdgeMetrics, handler_of
from cxone_router.edge.protocol import BODY_TIMED_OUT

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]
CLIENT_CLOSED = 499
_INTERNAL_ERROR = Response(b'{"status":"error","error":"internal error"}', 500,
                           media_type="application/json")


def measured(app: ASGIApp, receive_webhook: Handler, metrics: EdgeMetrics) -> ASGIApp:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        handler = handler_of(scope["path"])
        status = 0  # what was sent; 0 until the answer starts

        metrics.in_flight += 1
        try:
            if handler is WEBHOOK and scope["method"] == "POST":
                response = await receive_webhook(Request(scope, receive))
                status = response.status_code
                await response(scope, receive, send)
            else:
                async def send_and_note(message: Message) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = message["status"]
                    await send(message)

                await app(scope, receive, send_and_note)
        except ClientDisconnect:  # or its body was late: the protocol answered 408
            status = status or (408 if scope.get(BODY_TIMED_OUT) else CLIENT_CLOSED)
        except Exception:  # noqa: BLE001 - answered and logged here, once
            log.exception("unhandled error", extra={"path": scope["path"]})
            if status == 0:
                status = 500
                with contextlib.suppress(Exception):  # the client may be gone: no answer
                    await _INTERNAL_ERROR(scope, receive, send)
        finally:
            metrics.in_flight -= 1
            metrics.answered(handler, status or 500, time.perf_counter() - started)

    return asgi


def count_uvicorn_rejections(metrics: EdgeMetrics) -> None:
    """uvicorn answers 503 itself, without calling the app, once `limit_concurrency`
    connections are open; count those answers too (its httptools protocol looks the
    function up in its module at each request)."""
    from uvicorn.protocols.http import httptools_impl

    original: Any = getattr(httptools_impl, "service_unavailable")  # noqa: B009
    if getattr(original, "_cxr_counted", False):
        return

    async def service_unavailable(scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            await original(scope, receive, send)
        finally:
            metrics.answered(handler_of(scope["path"]), 503, time.perf_counter() - started)

    service_unavailable._cxr_counted = True  # type: ignore[attr-defined]
    setattr(httptools_impl, "service_unavailable", service_unavailable)  # noqa: B010
