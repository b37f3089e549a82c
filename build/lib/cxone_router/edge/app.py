"""The Starlette edge: POST /webhooks/cxone, /healthz, /readyz, /metrics, /openapi.json."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from cxone_router.edge import WEBHOOK_PATH
from cxone_router.edge.asgi import count_uvicorn_rejections, measured
from cxone_router.edge.auth import Unauthorized, build_auth
from cxone_router.edge.body import BodyTooLarge, read_capped
from cxone_router.edge.encoding import ACCEPTED, UnsupportedEncoding, codings, decoded
from cxone_router.edge.metrics import EdgeMetrics, handler_of
from cxone_router.edge.openapi import OPENAPI_PATH, document_bytes
from cxone_router.edge.protocol import guarded_protocol
from cxone_router.edge.publisher import BrokerUnavailable, Publisher, RecordRefused
from cxone_router.errors import ConfigurationError
from cxone_router.kafka.headers import CONTENT_TYPE, RECEIVED_NS, REQUEST_ID
from cxone_router.kafka.topics import Topics
from cxone_router.mapping import Normalizer
from cxone_router.observability.slo import load_slos
from cxone_router.payload import InvalidPayload, UnsupportedMediaType, decode, media_type
from cxone_router.ratelimit import TokenBucket
from cxone_router.routing import load_routes
from cxone_router.settings import Settings

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "2"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
READINESS_CHECK_SECONDS = 5.0
ADMIN_MAX_CONNECTIONS = 64
GC_YOUNG_THRESHOLD = 10_000  # net new container objects between young collections


_WANTED_HEADERS = frozenset((b"content-type", b"content-encoding", b"content-length",
                             b"x-request-id"))


def _wanted_headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The headers the webhook reads without authentication, in one pass over the list
    (the first of each, as Starlette's `Headers.get` gives, which scans the list per name)."""
    found: dict[bytes, bytes] = {}
    for name, value in raw:
        if name in _WANTED_HEADERS and name not in found:
            found[name] = value
    return found


class _JSONAnswer(Response):
    """A JSON answer with the headers Starlette's `Response` gives it, built here: its
    `init_headers` was over half an answer's cost on the webhook's path."""

    media_type = "application/json"

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                            for k, v in (headers or {}).items()]
        self.raw_headers += [(b"content-length", b"%d" % len(body)),
                             (b"content-type", b"application/json")]


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return _JSONAnswer(status, orjson.dumps(body), headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json(status, {"status": "rejected", "error": message}, headers)


_RATE_LIMITED = _error(429, "rate limit exceeded, retry later",
                       {"Retry-After": RETRY_AFTER_SECONDS})


class Edge:
    """Request handling; one instance per process, everything compiled at start-up."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self.metrics = EdgeMetrics(load_slos(settings.schemas_dir).latency_thresholds())
        self.normalizer = Normalizer.from_dir(settings.schemas_dir)
        routes = load_routes(settings.schemas_dir)
        self.topics = Topics.of(settings.topic_prefix, self.normalizer, routes)
        self.publisher = Publisher(settings, bootstrap)
        self.auth = build_auth(settings)
        rate = settings.edge_rate_limit
        self.bucket = TokenBucket(rate, max(1, int(rate))) if rate else None
        self.ready: tuple[bool, str] = (False, "not checked yet")
        self.openapi_document = document_bytes(settings)  # data: built once, served as is

    def _over_rate(self) -> bool:
        return self.bucket is not None and not self.bucket.try_take()

    async def receive(self, request: Request) -> Response:
        received_ns = time.time_ns()
        started = time.perf_counter()
        auth = self.auth
        # Without authentication every request spends the rate; with it, only those that
        # pass it: strangers cannot crowd out the real senders.
        if auth is None and self._over_rate():
            return _RATE_LIMITED
        asked = _wanted_headers(request.scope["headers"])
        raw_type = asked.get(b"content-type")
        content_type = raw_type.decode("latin-1") if raw_type is not None else None
        raw_encoding = asked.get(b"content-encoding")
        limit = self.settings.max_body_bytes
        try:
            media_type(content_type)
            applied = codings(raw_encoding.decode("latin-1")) if raw_encoding else []
            if auth is not None:  # credentials and a signature's form, before the body
                auth.before_body(request.headers)
            body = await read_capped(request.receive, asked.get(b"content-length"), limit)
            if auth is not None:
                if auth.after_body is not None:  # over the bytes sent, before decoding
                    auth.after_body(request.headers, body)
                if self._over_rate():
                    return _RATE_LIMITED
            if applied:
                body = decoded(body, applied, limit)
            payload = decode(body, content_type, self.settings.max_form_fields,
                             self.normalizer.form_names)
            keys = self.normalizer.keys(payload)
        except (UnsupportedEncoding, UnsupportedMediaType) as exc:
            return _error(415, str(exc), {"Accept-Encoding": ACCEPTED})
        except BodyTooLarge as exc:
            return _error(413, str(exc))  # what follows is read and dropped, for a while
        except Unauthorized as exc:
            return _error(401, str(exc), {"WWW-Authenticate": auth.challenge if auth else ""})
        except InvalidPayload as exc:
            return _error(400, str(exc))

        partition_key = self.normalizer.interaction_id(payload) or keys.event_id
        request_id = asked.get(b"x-request-id", b"").decode("latin-1")
        if not _REQUEST_ID.fullmatch(request_id):
            request_id = os.urandom(16).hex()  # 32 hex digits, as uuid4().hex gave
        headers = [
            (CONTENT_TYPE, (content_type or "application/json").encode("latin-1")),
            (RECEIVED_NS, str(received_ns).encode()),
            (REQUEST_ID, request_id.encode()),
        ]
        publish_started = time.perf_counter()
        try:
            await self.publisher.publish(self.topics.raw, partition_key.encode(), body, headers)
        except RecordRefused as exc:  # final: a retry would be refused again
            self.metrics.publish_failed(exc.error_class)
            log.error("the broker refused the event for good, answering 413",
                      extra={"request_id": request_id, "error": str(exc)})
            return _error(413, f"the broker refused the event for good ({exc.error_class}); "
                               "do not send it again as it is")
        except BrokerUnavailable as exc:
            self.metrics.publish_failed(exc.error_class)
            log.warning("publish failed, answering 503",
                        extra={"request_id": request_id, "error": str(exc)})
            # Not "not stored": a write that timed out may still land (a retry is deduplicated)
            return _error(503, "event not confirmed by the broker, retry later",
                          {"Retry-After": RETRY_AFTER_SECONDS})
        now = time.perf_counter()
        self.metrics.publish_seconds.observe(now - publish_started)
        self.metrics.edge_hop.observe(now - started)
        return _json(202, {"status": "accepted", "eventId": keys.event_id},
                     {"X-Request-Id": request_id})

    async def healthz(self, request: Request) -> Response:
        return Response(b'{"status":"ok"}', 200, media_type="application/json")

    async def readyz(self, request: Request) -> Response:
        """The last background check's answer: a probe costs no broker round trip, and
        however often it comes, the broker sees one check every few seconds."""
        ok, detail = self.ready
        body = orjson.dumps({"status": "ready" if ok else "not ready", "detail": detail})
        return Response(body, 200 if ok else 503, media_type="application/json")

    async def check_ready(self) -> None:
        try:
            ready = await self.publisher.ready([self.topics.raw])
            if ready[0]:
                ready = await self._check_replicas()
        except Exception as exc:  # noqa: BLE001 - the watch must outlive any one check
            log.warning("readiness check failed", extra={"error": repr(exc)})
            ready = (False, "readiness check failed")
        if ready != self.ready:
            log.info("readiness changed", extra={"ready": ready[0], "detail": ready[1]})
        self.ready = ready
        self.metrics.broker_ready.set(1 if ready[0] else 0)

    async def _check_replicas(self) -> tuple[bool, str]:
        """Not ready when no partition of the raw topic can take a write (all under
        min.insync.replicas: every publish would be 503); some under it, or under-
        replicated, show in the gauges (and their alerts), the edge still serving the
        partitions that can."""
        replicas = await self.publisher.replicas(self.topics.raw)
        self.metrics.raw_under_replicated.set(replicas.under_replicated)
        self.metrics.raw_under_min_isr.set(replicas.under_min_isr)
        if replicas.partitions and replicas.under_min_isr == replicas.partitions:
            return False, "every raw partition is under min.insync.replicas"
        return True, "ok"

    async def watch_readiness(self) -> None:
        """Keep `/readyz` and `cxr_edge_broker_ready` (for the not-ready alert) current."""
        while True:
            await self.check_ready()
            # not ready: look again soon, so a start-up (or a broker's return) is seen fast
            await asyncio.sleep(READINESS_CHECK_SECONDS if self.ready[0] else 0.5)

    def admin_routes(self) -> list[Route]:
        """/healthz first: the one the webhook port keeps when these move to their own."""
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.serve_metrics, methods=["GET"]),
            Route(OPENAPI_PATH, self.serve_openapi, methods=["GET"]),
        ]

    async def serve_openapi(self, request: Request) -> Response:
        return Response(self.openapi_document, 200, media_type="application/json")

    async def serve_metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), 200,
                        media_type=CONTENT_TYPE_LATEST)


def create_app(settings: Settings, bootstrap: str,
               admin_socket: socket.socket | None = None) -> Starlette:
    """The edge's app. With an admin socket, /readyz and /metrics are served there (with
    /healthz) by a server of their own, and the webhook port keeps only the webhook and
    /healthz (a load balancer's probe)."""
    edge = Edge(settings, bootstrap)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await edge.publisher.start()
        readiness = asyncio.create_task(edge.watch_readiness())
        # Everything built at start-up lives as long as the process: move it out of the
        # collector's sight, so a full collection no longer stalls requests behind it
        # (the edge's p99 at 64 connections: 24-27 ms -> 7-8 ms, see BENCHMARKS.md).
        gc.collect()
        gc.freeze()
        # An accepted webhook's objects are freed by reference counting (no reference
        # cycles: tests/integration/test_edge_garbage.py), so the collector only walks the
        # requests in flight; at the default 700 it did so every few requests, about 7 %
        # of the edge's CPU (see BENCHMARKS.md). Rare cyclic garbage (an error's
        # traceback) waits a little longer.
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        try:
            if admin_socket is None:
                yield
            else:
                async with _admin_server(edge, admin_socket):
                    yield
        finally:
            readiness.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await readiness
            await edge.publisher.stop()

    admin_routes = edge.admin_routes()
    public_routes = [Route(WEBHOOK_PATH, edge.receive, methods=["POST"]),
                     *(admin_routes[:1] if admin_socket is not None else admin_routes)]
    app = Starlette(routes=public_routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error})
    app.state.edge = edge
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own answers (404, 405 with its Allow header) in the edge's JSON."""
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, exc.detail, dict(exc.headers or {}))


def asgi_app(app: Starlette) -> ASGIApp:
    """The app as uvicorn runs it: the webhook's fast path, every answer measured."""
    edge: Edge = app.state.edge
    return measured(app, edge.receive, edge.metrics)


def http_protocol(edge: Edge) -> type:
    """uvicorn's httptools protocol with the edge's header deadline and size cap; what it
    refuses is counted like any other answer."""
    def refused(status: int, url: bytes) -> None:
        path = url.partition(b"?")[0].decode("latin-1")
        edge.metrics.answered(handler_of(path), status, 0.0)

    settings = edge.settings
    return guarded_protocol(settings.edge_header_timeout_seconds,
                            settings.edge_body_timeout_seconds,
                            settings.edge_max_header_bytes, refused)


@asynccontextmanager
async def _admin_server(edge: Edge, sock: socket.socket) -> AsyncIterator[None]:
    """Serve /healthz, /readyz and /metrics on `sock` while the edge runs, with a
    connection cap of their own: a crowd on the webhook port does not lock them out."""
    import uvicorn

    class InnerServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the edge's server handles SIGINT and SIGTERM, and stops this one

    app = Starlette(routes=edge.admin_routes())
    server = InnerServer(uvicorn.Config(
        measured(app, _not_served_here, edge.metrics), lifespan="off", access_log=False,
        log_config=None, limit_concurrency=ADMIN_MAX_CONNECTIONS, http=http_protocol(edge),
        proxy_headers=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def _not_served_here(request: Request) -> Response:
    return _error(404, "webhooks are posted to the edge's webhook port")


def listen(host: str, port: int, variable: str) -> socket.socket:
    """A bound socket, or one line naming the setting (uvicorn would log a traceback, and
    only once the producer had started, leaving it unclosed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port} (set by {variable}): "
                                 f"{exc.strerror or exc}") from None
    return sock


def serve(settings: Settings, bootstrap: str) -> None:
    """Run the edge with uvicorn (uvloop + httptools) until SIGINT/SIGTERM."""
    import uvicorn

    from cxone_router.logs import logging_config

    public = listen(settings.edge_host, settings.edge_port, "CXR_EDGE_PORT")
    admin = None
    if settings.edge_admin_port is not None:
        admin = listen(settings.edge_admin_host or settings.edge_host,
                       settings.edge_admin_port, "CXR_EDGE_ADMIN_PORT")
    app = create_app(settings, bootstrap, admin)
    edge: Edge = app.state.edge
    count_uvicorn_rejections(edge.metrics)
    config = uvicorn.Config(
        asgi_app(app),
        loop="uvloop",
        http=http_protocol(edge),
        lifespan="on",
        access_log=False,
        # The edge reads neither the client's address nor the scheme: uvicorn's middleware
        # rewriting them from X-Forwarded-* would be one more layer on every request.
        proxy_headers=False,
        limit_concurrency=settings.edge_max_connections,
        log_config=logging_config(settings.log_format, settings.log_level),
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run(sockets=[public])
