"""Access tokens: the two CXone grants, discovery, a cache and single-flight refresh."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from cxone_router.cxone.errors import AuthError, CxoneApiError, DiscoveryError
from cxone_router.cxone.retry import CxoneRetry
from cxone_router.cxone.settings import CxoneSettings
from cxone_router.cxone.transport import raise_for_transient, send

log = logging.getLogger(__name__)

Clock = Callable[[], float]

DEFAULT_LIFETIME_SECONDS = 3600.0
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class AccessToken:
    """A bearer token; its value never appears in a repr."""

    value: str = field(repr=False)
    obtained_at: float
    expires_at: float
    scopes: frozenset[str] = frozenset()

    def usable(self, now: float, margin: float) -> bool:
        """Still good for at least `margin` seconds (half the lifetime for short tokens)."""
        margin = min(margin, (self.expires_at - self.obtained_at) / 2)
        return now < self.expires_at - margin


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class TokenProvider:
    """Hands out a cached token; when it is (nearly) expired, exactly one request renews it."""

    def __init__(
        self,
        settings: CxoneSettings,
        http: httpx.AsyncClient,
        retry: CxoneRetry,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        settings.check_credentials()
        self._settings = settings
        self._http = http
        self._retry = retry
        self._clock = clock
        self._cached: AccessToken | None = None
        self._inflight: asyncio.Task[AccessToken] | None = None
        self._endpoint: str | None = None

    def __repr__(self) -> str:
        return f"<TokenProvider grant={self._settings.effective_grant} cached={self._cached!r}>"

    async def token(self) -> AccessToken:
        cached = self._cached
        if cached is not None and cached.usable(
            self._clock(), self._settings.token_refresh_margin_seconds
        ):
            return cached
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._renew())
            self._inflight.add_done_callback(self._renewal_done)
        # shield: a caller giving up must not cancel the renewal the others are waiting for
        return await asyncio.shield(self._inflight)

    def invalidate(self, stale: AccessToken) -> None:
        """Drop `stale` (it got a 401) unless another caller has already replaced it."""
        if self._cached is stale:
            self._cached = None

    async def aclose(self) -> None:
        if self._inflight is not None:
            self._inflight.cancel()

    def _renewal_done(self, task: asyncio.Task[AccessToken]) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here; the awaiting callers re-raise it

    async def _renew(self) -> AccessToken:
        token = await self._retry.run(self._request_token, what="token request")
        self._cached = token
        log.info(
            "obtained a CXone access token (grant %s, valid %.0f s)",
            self._settings.effective_grant,
            token.expires_at - token.obtained_at,
        )
        return token

    async def token_endpoint(self) -> str:
        if self._endpoint is None:
            if self._settings.discover_token_endpoint:
                self._endpoint = await self._retry.run(self._discover, what="discovery")
            else:
                self._endpoint = self._settings.issuer + self._settings.token_path
        return self._endpoint

    async def _discover(self) -> str:
        issuer = self._settings.issuer
        response = await send(self._http, self._http.build_request("GET", issuer + DISCOVERY_PATH))
        raise_for_transient(response)
        endpoint = _json_object(response).get("token_endpoint")
        if response.status_code != 200 or not isinstance(endpoint, str):
            raise DiscoveryError(
                f"{issuer}{DISCOVERY_PATH} gave no token_endpoint (HTTP {response.status_code})",
                status=response.status_code,
            )
        scheme, issuer_scheme = urlsplit(endpoint).scheme, urlsplit(issuer).scheme
        if scheme not in ("https", issuer_scheme):  # never send secrets down a weaker channel
            raise DiscoveryError(f"discovered token endpoint is not https: {endpoint}")
        return endpoint

    def _form(self) -> dict[str, str]:
        settings = self._settings
        form: dict[str, str] = {"grant_type": settings.effective_grant}
        if settings.effective_grant == "password":
            assert settings.access_key_id is not None and settings.access_key_secret is not None
            form["username"] = settings.access_key_id
            form["password"] = settings.access_key_secret.get_secret_value()
        if settings.token_scope:
            form["scope"] = settings.token_scope
        return form

    async def _request_token(self) -> AccessToken:
        settings = self._settings
        assert settings.client_id is not None and settings.client_secret is not None
        request = self._http.build_request(
            "POST",
            await self.token_endpoint(),
            data=self._form(),
        )
        basic = httpx.BasicAuth(settings.client_id, settings.client_secret.get_secret_value())
        obtained_at = self._clock()
        response = await send(self._http, request, auth=basic)
        raise_for_transient(response)
        body = _json_object(response)
        if response.status_code != 200:
            raise _token_refused(response.status_code, body, settings.effective_grant)
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError("the CXone token response has no access_token", status=200)
        lifetime = body.get("expires_in", DEFAULT_LIFETIME_SECONDS)
        if not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_LIFETIME_SECONDS
        scope = body.get("scope")
        return AccessToken(
            value=value,
            obtained_at=obtained_at,
            expires_at=obtained_at + float(lifetime),
            scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        )


def _token_refused(status: int, body: dict[str, Any], grant: str) -> CxoneApiError:
    code = str(body.get("error", "")) or f"HTTP {status}"
    if code == "invalid_grant":
        return AuthError(
            "CXone refused the access key (invalid_grant)",
            status=status,
            hint="check CXR_CXONE_ACCESS_KEY_ID and CXR_CXONE_ACCESS_KEY_SECRET; the key may "
            "be deactivated or belong to another business unit",
        )
    if code in ("unsupported_grant_type", "unauthorized_client"):
        other = "password" if grant == "client_credentials" else "client_credentials"
        return AuthError(
            f"CXone does not allow the {grant} grant for this client ({code})",
            status=status,
            hint=f"set CXR_CXONE_GRANT={other} (and its credentials) or enable the grant in CXone",
        )
    return AuthError(
        f"CXone refused the client credentials ({code})",
        status=status,
        hint="check CXR_CXONE_CLIENT_ID and CXR_CXONE_CLIENT_SECRET and CXR_CXONE_INSTANCE",
    )
