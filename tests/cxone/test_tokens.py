"""Tokens against the fake CXone over HTTP: both grants, discovery, cache, single flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from cxone_router.cxone.client import CxoneClient
from cxone_router.cxone.errors import AuthError
from tests.cxone.helpers import FakeClock, FakeCxone, RecordingSleep


async def test_token_is_reused_until_60_seconds_before_expiry(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    fake.faults(token_ttl=3600)
    clock = FakeClock()
    cxone = make_client(clock=clock)
    first = await cxone.tokens.token()
    clock.advance(3600 - 60 - 1)
    await cxone.list_webhooks()
    assert await cxone.tokens.token() is first
    assert fake.stats()["token_requests"] == 1
    clock.advance(2)  # now 59 s before expiry
    await cxone.list_webhooks()
    assert await cxone.tokens.token() is not first
    assert fake.stats()["token_requests"] == 2


async def test_a_token_shorter_than_the_margin_is_still_reused(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    fake.faults(token_ttl=30)  # shorter than the 60 s margin: renew at half-life instead
    clock = FakeClock()
    cxone = make_client(clock=clock)
    await cxone.list_webhooks()
    clock.advance(14)
    await cxone.list_webhooks()
    assert fake.stats()["token_requests"] == 1
    clock.advance(2)
    await cxone.list_webhooks()
    assert fake.stats()["token_requests"] == 2


async def test_100_concurrent_calls_without_a_token_make_one_token_request(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client(max_connections=100)
    results = await asyncio.gather(*(cxone.list_webhooks() for _ in range(100)))
    assert len(results) == 100
    stats = fake.stats()
    assert stats["token_requests"] == 1
    assert stats["api_requests"] == 100


async def test_a_failed_token_request_fails_every_waiter_once(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client(client_secret="not-the-secret")
    results = await asyncio.gather(
        *(cxone.list_webhooks() for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(result, AuthError) for result in results)
    assert fake.stats()["token_requests"] == 1  # refused credentials are not retried


async def test_cancelling_one_waiter_does_not_cancel_the_shared_renewal(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    fake.faults(slow={"count": 1, "seconds": 0.3, "target": "token"})
    cxone = make_client()
    impatient = asyncio.create_task(cxone.tokens.token())
    patient = asyncio.create_task(cxone.tokens.token())
    await asyncio.sleep(0)  # both tasks now wait on the one renewal the slow fault holds up
    assert not impatient.done()
    impatient.cancel()
    token = await patient
    assert token.value
    assert fake.stats()["token_requests"] == 1


async def test_password_grant_with_an_access_key(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client(grant="password")
    await cxone.list_webhooks()
    assert fake.stats()["tokens_issued"] == 1


async def test_a_wrong_access_key_says_which_settings_to_check(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client(grant="password", access_key_id="someone-else")
    with pytest.raises(AuthError, match="access key") as caught:
        await cxone.list_webhooks()
    assert "CXR_CXONE_ACCESS_KEY_ID" in caught.value.hint


async def test_a_wrong_client_secret_says_which_settings_to_check(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client(client_secret="not-the-secret")
    with pytest.raises(AuthError, match="invalid_client") as caught:
        await cxone.list_webhooks()
    assert "CXR_CXONE_CLIENT_SECRET" in caught.value.hint


async def test_the_token_endpoint_is_discovered_once(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    fake.faults(token_ttl=1)
    cxone = make_client(discover_token_endpoint=True, token_path="/wrong/path")
    await cxone.list_webhooks()
    cxone.tokens.invalidate(await cxone.tokens.token())
    await cxone.list_webhooks()
    stats = fake.stats()
    assert stats["discovery_requests"] == 1
    assert stats["token_requests"] == 2


async def test_token_endpoint_failures_are_retried(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    sleep = RecordingSleep()
    fake.faults(fail={"count": 2, "status": 503, "target": "token"})
    cxone = make_client(sleep=sleep)
    await cxone.list_webhooks()
    assert fake.stats()["token_requests"] == 3
    assert len(sleep.delays) == 2
