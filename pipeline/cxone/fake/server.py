"""The fake CXone as a Starlette app, served for real over HTTP by tests and `dev`.

`build_app(state)` serves:

- `GET  /.well-known/openid-configuration` discovery (`token_endpoint`);
- `POST /auth/token` form-encoded, client id/secret as Basic auth (or form fields),
  `grant_type=client_credentials`, or `grant_type=password` with the access key as
  username/password; tokens live `state.token_ttl` seconds (300 by default: short-lived);
- `POST/GET /webhooks`, `GET/DELETE /webhooks/{id}`: 409 on a duplicate URL;
- `POST /_fake/faults` (JSON, replaces the current faults), `DELETE /_fake/faults`,
  `GET /_fake/stats`, `GET /_fake/tokens`, `POST /_fake/reset`. Fault keys:
  `expire_tokens: true` (all current tokens answer 401 from now on), `reject_tokens: N` (next N
  API calls answer 401 whatever the token), `refuse_scope: "webhooks:write"` (403),
  `rate_limit: {"count": N, "retry_after": "2" | null, "target": "api" | "token"}` (429),
  `fail: {"count": N, "status": 500, "target": ...}`, `slow: {"count": N, "seconds": S,
  "target": ...}`, `tenant_limit: {"rate": R, "burst": B}` (a real limit: 429 when exceeded),
  `token_ttl: seconds` (lifetime of tokens issued from now on).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import math
import uuid
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxone_router.cxone.fake.state import FakeState, Faults, IssuedToken
from cxone_router.cxone.webhooks import DEFAULT_EVENTS

KNOWN_EVENTS = frozenset(DEFAULT_EVENTS)


def _error(status: int, error: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _basic_auth(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


async def _urlencoded_form(request: Request) -> dict[str, str]:
    """The token endpoint's form (parsed here: Starlette's form parser needs python-multipart)."""
    try:
        return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


class _CountStatuses:
    """Counts every API response by status in the stats (`http_429`, ...)."""

    def __init__(self, app: ASGIApp, state: FakeState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_fake"):
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.state.stats[f"http_{message['status']}"] += 1
            await send(message)

        await self.app(scope, receive, counting_send)


async def _injected_fault(state: FakeState, target: str) -> Response | None:
    faults = state.faults
    if faults.slow is not None and faults.slow.take(target):
        await asyncio.sleep(faults.slow.seconds)
    if target == "api" and faults.tenant_limit is not None and not faults.tenant_limit.allow():
        wait = str(max(1, math.ceil(1 / faults.tenant_limit.rate)))
        return _error(429, "rate_limited", "tenant limit exceeded", **{"Retry-After": wait})
    if faults.rate_limit is not None and faults.rate_limit.take(target):
        headers = {} if faults.rate_limit.retry_after is None else {
            "Retry-After": faults.rate_limit.retry_after
        }
        return _error(429, "rate_limited", "too many requests", **headers)
    if faults.fail is not None and faults.fail.take(target):
        return _error(faults.fail.status, "server_error", "injected failure")
    return None


def build_app(state: FakeState | None = None) -> Starlette:
    """A fresh fake CXone; pass a `FakeState` to choose credentials or token lifetime."""
    fake = state or FakeState()
    default_ttl = fake.token_ttl

    async def guard(request: Request, *scopes: str) -> Response | IssuedToken:
        fake.stats["api_requests"] += 1
        injected = await _injected_fault(fake, "api")
        if injected is not None:
            return injected
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        issued = fake.valid_token(value) if scheme.lower() == "bearer" else None
        if fake.faults.reject_tokens > 0:
            fake.faults.reject_tokens -= 1
            issued = None
        if issued is None:
            challenge = 'Bearer error="invalid_token"'
            return _error(401, "invalid_token", "token missing, expired or revoked",
                          **{"WWW-Authenticate": challenge})
        refused = scope_refused(issued, *scopes)
        return refused or issued

    def scope_refused(issued: IssuedToken, *scopes: str) -> Response | None:
        for scope in scopes:
            if scope not in issued.scopes or scope in fake.faults.refuse_scopes:
                challenge = f'Bearer error="insufficient_scope", scope="{scope}"'
                return JSONResponse(
                    {"error": "insufficient_scope", "scope": scope,
                     "message": f"the token lacks the scope {scope}"},
                    status_code=403, headers={"WWW-Authenticate": challenge},
                )
        return None

    async def discovery(request: Request) -> Response:
        fake.stats["discovery_requests"] += 1
        base = str(request.base_url).rstrip("/")
        return JSONResponse({
            "issuer": base,
            "token_endpoint": f"{base}/auth/token",
            "grant_types_supported": ["client_credentials", "password"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        })

    async def token(request: Request) -> Response:
        fake.stats["token_requests"] += 1
        injected = await _injected_fault(fake, "token")
        if injected is not None:
            return injected
        form = await _urlencoded_form(request)
        creds = fake.credentials
        client = _basic_auth(request) or (form.get("client_id"), form.get("client_secret"))
        client_id, client_secret = client
        if not (_same(client_id, creds.client_id) and _same(client_secret, creds.client_secret)):
            return _error(401, "invalid_client", "unknown client or wrong secret")
        grant = form.get("grant_type")
        if grant == "password":
            username, password = form.get("username"), form.get("password")
            if not (_same(username, creds.access_key_id)
                    and _same(password, creds.access_key_secret)):
                return _error(400, "invalid_grant", "unknown or inactive access key")
        elif grant != "client_credentials":
            return _error(400, "unsupported_grant_type", f"grant {grant!r} is not supported")
        value, ttl = fake.issue_token()
        fake.stats["tokens_issued"] += 1
        return JSONResponse(
            {"access_token": value, "token_type": "Bearer", "expires_in": ttl,
             "scope": " ".join(sorted(fake.tokens[value].scopes))},
            headers={"Cache-Control": "no-store"},
        )

    async def create_webhook(request: Request) -> Response:
        issued = await guard(request, "webhooks:write")
        if isinstance(issued, Response):
            return issued
        try:
            body: Any = await request.json()
        except ValueError:
            return _error(400, "invalid_request", "the body is not JSON")
        problem = _invalid_webhook(body)
        if problem:
            return _error(400, "invalid_request", problem)
        refused = scope_refused(issued, body.get("scope") or "interactions:read")
        if refused is not None:
            return refused
        if any(hook["url"] == body["url"] for hook in fake.webhooks.values()):
            return _error(409, "conflict", "a webhook with this url exists")
        hook = {
            "id": str(uuid.uuid4()),
            "name": body.get("name") or "",
            "url": body["url"],
            "scope": body.get("scope") or "interactions:read",
            "events": body["events"],
        }
        fake.webhooks[hook["id"]] = hook
        return JSONResponse(hook, status_code=201)

    async def list_webhooks(request: Request) -> Response:
        issued = await guard(request, "webhooks:read")
        if isinstance(issued, Response):
            return issued
        return JSONResponse({"webhooks": list(fake.webhooks.values())})

    async def get_webhook(request: Request) -> Response:
        issued = await guard(request, "webhooks:read")
        if isinstance(issued, Response):
            return issued
        hook = fake.webhooks.get(request.path_params["webhook_id"])
        return JSONResponse(hook) if hook else _error(404, "not_found", "no such webhook")

    async def delete_webhook(request: Request) -> Response:
        issued = await guard(request, "webhooks:write")
        if isinstance(issued, Response):
            return issued
        if fake.webhooks.pop(request.path_params["webhook_id"], None) is None:
            return _error(404, "not_found", "no such webhook")
        return Response(status_code=204)

    async def set_faults(request: Request) -> Response:
        try:
            body = await request.json()
            faults = Faults.from_json(body)
        except (ValueError, TypeError) as exc:
            return _error(400, "invalid_request", f"bad faults: {exc}")
        fake.faults = faults
        if body.get("expire_tokens"):
            fake.expire_tokens()
        if "token_ttl" in body:
            fake.token_ttl = float(body["token_ttl"])
        return Response(status_code=204)

    async def clear_faults(request: Request) -> Response:
        fake.faults = Faults()
        return Response(status_code=204)

    async def stats(request: Request) -> Response:
        return JSONResponse({**fake.stats, "webhooks": len(fake.webhooks)})

    async def tokens(request: Request) -> Response:
        return JSONResponse({"tokens": fake.issued})

    async def reset(request: Request) -> Response:
        fake.reset()
        fake.token_ttl = default_ttl
        return Response(status_code=204)

    routes = [
        Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/auth/token", token, methods=["POST"]),
        Route("/webhooks", create_webhook, methods=["POST"]),
        Route("/webhooks", list_webhooks, methods=["GET"]),
        Route("/webhooks/{webhook_id}", get_webhook, methods=["GET"]),
        Route("/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
        Route("/_fake/faults", set_faults, methods=["POST"]),
        Route("/_fake/faults", clear_faults, methods=["DELETE"]),
        Route("/_fake/stats", stats, methods=["GET"]),
        Route("/_fake/tokens", tokens, methods=["GET"]),
        Route("/_fake/reset", reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(_CountStatuses, state=fake)])
    app.state.fake = fake
    return app


def _invalid_webhook(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    url = body.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return "url must be an http(s) URL"
    events = body.get("events")
    if not isinstance(events, list) or not events:
        return "events must be a non-empty list"
    unknown = [event for event in events if event not in KNOWN_EVENTS]
    if unknown:
        return f"unknown events {unknown}; known: {sorted(KNOWN_EVENTS)}"
    return None
