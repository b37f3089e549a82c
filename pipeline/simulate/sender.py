"""Posts one event the way CXone would: retry what may succeed later, never what cannot.

A 408, 425, 429, 500, 502, 503 or 504, a timeout or a broken connection is retried with
full-jitter exponential backoff, waiting exactly `Retry-After` when the edge gives one
(capped by the profile); any other 4xx or 5xx is final. Attempts are bounded; an event that
runs out of them counts as lost. The policy is cxone_router.retry's; it reads the error's
`retriable` attribute, nothing else.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Callable

import httpx

from cxone_router.retry import RetryPolicy
from cxone_router.signing import Signer
from cxone_router.simulate.errors import (
    DeliveryError,
    EdgeRejected,
    EdgeTimeout,
    EdgeUnreachable,
    answer_error,
)
from cxone_router.simulate.events import SimEvent
from cxone_router.simulate.profiles import Profile
from cxone_router.simulate.summary import Tally

Sleep = Callable[[float], Awaitable[None]]
USER_AGENT = "cxone-router-simulate/0.1"


def new_clients(profile: Profile) -> list[httpx.AsyncClient]:
    """One single-connection keep-alive client per concurrent event.

    httpcore's pool scans every connection on every request and release, so one pool of
    64 connections costs about 1 ms of CPU per request; 64 pools of one connection cost a
    fifth of that (measured against a local edge). One TLS context serves them all.
    """
    tls = ssl.create_default_context()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(profile.timeout)
    headers = {"user-agent": USER_AGENT}
    return [
        httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers, verify=tls)
        for _ in range(profile.concurrency)
    ]


class Sender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        profile: Profile,
        tally: Tally,
        *,
        sleep: Sleep = asyncio.sleep,
        jitter: random.Random | None = None,
        signer: Signer | None = None,
    ) -> None:
        self._client = client
        self._url = url
        self._profile = profile
        self._tally = tally
        self._sleep = sleep
        # Jitter has its own generator: timing must not shift the seeded traffic.
        self._retry = RetryPolicy(
            base=profile.backoff,
            cap=profile.max_backoff,
            max_attempts=profile.max_attempts,
            max_retry_after=profile.max_retry_after,
            rng=jitter or random.Random(),
        )
        self._headers: dict[str, dict[str, str]] = {}
        # hmac signs each attempt (body and time); bearer/basic headers are built once
        self._signer = signer if signer is not None and signer.enabled else None
        self._signs_each = self._signer is not None and self._signer.per_request

    async def deliver(self, event: SimEvent) -> None:
        """Post `event` until it is answered for good; record the outcome in the tally."""
        tally = self._tally
        tally.sent += 1
        if event.kind == "redelivery":
            tally.duplicates_sent += 1
        elif event.kind == "drifted":
            tally.drifted_sent += 1
        elif event.kind == "malformed":
            tally.malformed_sent += 1
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                await self._attempt(event)
            except DeliveryError as exc:
                wait = self._retry.delay_for(exc, attempt)
                if wait is None:
                    self._record_failure(event, exc)
                    return
                tally.retried += 1
                await self._sleep(wait)
                attempt += 1
                continue
            tally.latency.record(time.perf_counter() - started)
            tally.accepted += 1
            tally.statuses["202"] += 1
            if event.kind == "malformed":
                tally.malformed_accepted += 1
            return

    async def _attempt(self, event: SimEvent) -> None:
        headers = self._headers.get(event.content_type)
        if headers is None:
            headers = {"content-type": event.content_type, "accept": "application/json"}
            if self._signer is not None and not self._signs_each:
                headers.update(self._signer.headers(b""))
            self._headers[event.content_type] = headers
        if self._signs_each:
            assert self._signer is not None
            headers = {**headers, **self._signer.headers(event.body)}
        try:
            response = await self._client.post(self._url, content=event.body, headers=headers)
        except httpx.TimeoutException as exc:
            raise EdgeTimeout(f"no answer within {self._profile.timeout} s") from exc
        except httpx.TransportError as exc:
            raise EdgeUnreachable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 202:
            raise answer_error(response)

    def _record_failure(self, event: SimEvent, exc: DeliveryError) -> None:
        tally = self._tally
        if isinstance(exc, EdgeRejected):
            tally.rejected += 1
            if event.kind != "malformed":
                tally.unexpected_rejections += 1
        else:
            tally.lost += 1
        if isinstance(exc, EdgeTimeout):
            tally.statuses["timeout"] += 1
        elif isinstance(exc, EdgeUnreachable):
            tally.statuses["connection-error"] += 1
        else:
            tally.statuses[str(exc.status)] += 1
