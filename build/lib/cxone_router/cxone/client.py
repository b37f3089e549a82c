"""CxoneClient: authenticated, rate-limited, retried calls to the CXone REST API."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from cxone_router.cxone.errors import (
    AuthError,
    Conflict,
    CxoneApiError,
    NotFound,
    RequestRejected,
    ScopeError,
)
from cxone_router.cxone.retry import CxoneRetry
from cxone_router.cxone.settings import CxoneSettings
from cxone_router.cxone.tokens import AccessToken, TokenProvider
from cxone_router.cxone.transport import raise_for_transient, send
from cxone_router.cxone.webhooks import DEFAULT_EVENTS, Registration, Webhook, same_url
from cxone_router.ratelimit import Sleep, TokenBucket

log = logging.getLogger(__name__)

WEBHOOKS_WRITE = "webhooks:write"
WEBHOOKS_READ = "webhooks:read"
_SCOPE_IN_CHALLENGE = re.compile(r'scope="([^"]+)"')


def _missing_scope(response: httpx.Response, expected: str) -> str:
    """The scope a 403 names (RFC 6750 challenge or JSON body), else the one the call needs."""
    challenge = _SCOPE_IN_CHALLENGE.search(response.headers.get("WWW-Authenticate", ""))
    if challenge:
        return challenge.group(1)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("scope", "required_scope", "missing_scope"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return expected


def _detail(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:200] + ("..." if len(text) > 200 else "")


class _TokenFailure(Exception):
    """Carries a token error past the call's retry loop: the token provider retried already."""

    def __init__(self, error: CxoneApiError) -> None:
        super().__init__(str(error))
        self.error = error


class CxoneClient:
    """One pooled HTTP client per tenant; use as `async with CxoneClient(settings) as cxone:`."""

    def __init__(
        self,
        settings: CxoneSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        bucket: TokenBucket | None = None,
    ) -> None:
        settings.check_credentials()  # before any resource is opened
        self.settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.api_url,
            timeout=httpx.Timeout(
                settings.request_timeout_seconds, connect=settings.connect_timeout_seconds
            ),
            limits=httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections,
            ),
            headers={"Accept": "application/json", "User-Agent": "cxone-router"},
            follow_redirects=False,
        )
        self.retry = CxoneRetry.for_settings(settings, sleep=sleep, rng=rng)
        self.bucket = bucket or TokenBucket(settings.rate_per_second, settings.burst)
        self.tokens = TokenProvider(settings, self._http, self.retry, clock=clock)

    def __repr__(self) -> str:
        return f"<CxoneClient {self.settings.api_url} {self.tokens!r}>"

    async def __aenter__(self) -> CxoneClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.tokens.aclose()
        await self._http.aclose()

    # --- the generic call -------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A 2xx response, or a CxoneApiError; `scope` is the one the call needs (for 403s)."""

        async def attempt() -> httpx.Response:
            await self.bucket.acquire()
            return await self._authorized(method, path, scope=scope, json=json, params=params)

        try:
            return await self.retry.run(attempt, what=f"{method} {path}")
        except _TokenFailure as failure:
            raise failure.error from None

    async def _token(self) -> AccessToken:
        try:
            return await self.tokens.token()
        except CxoneApiError as error:
            raise _TokenFailure(error) from None

    async def _authorized(
        self, method: str, path: str, *, scope: str, json: Any, params: dict[str, str] | None
    ) -> httpx.Response:
        token = await self._token()
        response = await self._send(method, path, token, json=json, params=params)
        if response.status_code == 401:
            log.info("CXone answered 401 to %s %s; renewing the token once", method, path)
            self.tokens.invalidate(token)
            token = await self._token()
            response = await self._send(method, path, token, json=json, params=params)
            if response.status_code == 401:
                raise AuthError(
                    f"CXone refused a freshly issued token for {method} {path} (HTTP 401 twice)",
                    status=401,
                    hint="the API application may be disabled, or CXR_CXONE_API_BASE points at "
                    "another tenant's API host than CXR_CXONE_INSTANCE issues tokens for",
                )
        _raise_for_status(response, scope)
        return response

    async def _send(
        self,
        method: str,
        path: str,
        token: AccessToken,
        *,
        json: Any,
        params: dict[str, str] | None,
    ) -> httpx.Response:
        request = self._http.build_request(
            method,
            path,
            json=json,
            params=params,
            headers={"Authorization": f"Bearer {token.value}"},
        )
        return await send(self._http, request)

    # --- webhooks -----------------------------------------------------------------------

    async def register_webhook(
        self, url: str, *, events: Sequence[str] = DEFAULT_EVENTS, name: str | None = None
    ) -> Registration:
        """Create the registration, or return the existing one for `url` (409 is not an error)."""
        body = {
            "name": name or self.settings.webhook_name,
            "url": url,
            "scope": self.settings.webhook_scope,
            "events": list(events),
        }
        path = self.settings.webhooks_path
        try:
            response = await self.request("POST", path, scope=WEBHOOKS_WRITE, json=body)
        except Conflict:
            existing = await self.find_webhook(url)
            if existing is None:
                raise RequestRejected(
                    f"CXone says a webhook for {url} exists (409) but does not list it",
                    status=409,
                    hint="look for it with `cxone-router webhooks list` or in the CXone admin",
                ) from None
            log.info("webhook for %s already registered as %s", url, existing.id)
            return Registration(existing, created=False)
        webhook = _parse_webhook(response.json())
        log.info("registered webhook %s for %s", webhook.id, url)
        return Registration(webhook, created=True)

    async def list_webhooks(self) -> list[Webhook]:
        response = await self.request("GET", self.settings.webhooks_path, scope=WEBHOOKS_READ)
        body = response.json()
        items = body.get("webhooks", body.get("items")) if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise RequestRejected("CXone's webhook list is neither a list nor {'webhooks': [...]}")
        return [_parse_webhook(item) for item in items]

    async def find_webhook(self, url: str) -> Webhook | None:
        return next((hook for hook in await self.list_webhooks() if same_url(hook.url, url)), None)

    async def delete_webhook(self, webhook_id: str) -> None:
        if not webhook_id.strip():
            raise RequestRejected("a webhook id cannot be empty")
        path = f"{self.settings.webhooks_path}/{quote(webhook_id, safe='')}"
        await self.request("DELETE", path, scope=WEBHOOKS_WRITE)
        log.info("deleted webhook %s", webhook_id)


def _parse_webhook(body: Any) -> Webhook:
    try:
        return Webhook.from_json(body)
    except ValueError as exc:
        raise RequestRejected(f"unexpected webhook in CXone's answer: {exc}") from None


def _raise_for_status(response: httpx.Response, scope: str) -> None:
    status = response.status_code
    if status < 400:
        return
    raise_for_transient(response)
    where = f"{response.request.method} {response.request.url.path}"
    if status == 403:
        raise ScopeError(_missing_scope(response, scope))
    if status == 404:
        raise NotFound(f"CXone has no such resource: {where} (HTTP 404)", status=404)
    if status == 409:
        raise Conflict(f"CXone reports a conflict: {where} (HTTP 409)", status=409)
    raise RequestRejected(
        f"CXone rejected {where} (HTTP {status}): {_detail(response)}",
        status=status,
        hint="the path or body may not match this tenant's API: check CXR_CXONE_WEBHOOKS_PATH",
    )

