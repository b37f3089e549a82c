"""The client against the fake CXone over HTTP: 401, 403, 429, 5xx, timeouts, rate, webhooks."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import pytest

from cxone_router.cxone.client import CxoneClient
from cxone_router.cxone.errors import (
    AuthError,
    NotFound,
    RateLimited,
    ScopeError,
    ServerError,
    Unreachable,
)
from tests.cxone.helpers import FakeCxone, RecordingSleep, fast_settings

EDGE = "https://edge.example.com/webhooks/cxone"


async def test_401_renews_the_token_and_retries_once(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client()
    await cxone.list_webhooks()
    fake.faults(expire_tokens=True)
    assert await cxone.list_webhooks() == []
    stats = fake.stats()
    assert (stats["token_requests"], stats["http_401"], stats["api_requests"]) == (2, 1, 3)


async def test_concurrent_401s_renew_the_token_once(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client()
    await cxone.list_webhooks()
    fake.faults(expire_tokens=True)
    await asyncio.gather(*(cxone.list_webhooks() for _ in range(30)))
    assert fake.stats()["token_requests"] == 2


async def test_a_second_401_fails_clearly_without_more_attempts(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client()
    fake.faults(reject_tokens=5)
    with pytest.raises(AuthError, match="401 twice"):
        await cxone.list_webhooks()
    stats = fake.stats()
    assert (stats["api_requests"], stats["token_requests"]) == (2, 2)


@pytest.mark.parametrize("scope", ["webhooks:write", "interactions:read"])
async def test_403_names_the_missing_scope(
    fake: FakeCxone, make_client: Callable[..., CxoneClient], scope: str
) -> None:
    fake.faults(refuse_scope=scope)
    cxone = make_client()
    with pytest.raises(ScopeError) as caught:
        await cxone.register_webhook(EDGE)
    assert caught.value.scope == scope
    assert scope in str(caught.value) and scope in caught.value.hint
    assert fake.stats()["http_403"] == 1  # not retried


async def test_429_with_retry_after_2_asks_for_a_2_second_wait(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    sleep = RecordingSleep()
    fake.faults(rate_limit={"count": 1, "retry_after": "2"})
    cxone = make_client(sleep=sleep)
    assert await cxone.list_webhooks() == []
    assert sleep.delays == [2.0]
    assert fake.stats()["http_429"] == 1


async def test_429_with_retry_after_2_really_waits_about_2_seconds(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    fake.faults(rate_limit={"count": 1, "retry_after": "2"})
    cxone = make_client()
    await cxone.tokens.token()
    started = time.monotonic()
    await cxone.list_webhooks()
    elapsed = time.monotonic() - started
    assert 1.95 <= elapsed < 30  # generous upper bound: a busy 2-core machine is slow


async def test_429_without_retry_after_backs_off_with_capped_jitter(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    sleep = RecordingSleep()
    fake.faults(rate_limit={"count": 3, "retry_after": None})
    cxone = make_client(sleep=sleep, backoff_base_seconds=1.0, backoff_cap_seconds=3.0)
    await cxone.list_webhooks()
    assert len(sleep.delays) == 3
    for attempt, delay in enumerate(sleep.delays):
        assert 0 <= delay <= min(3.0, 1.0 * 2**attempt)


async def test_persistent_429_gives_up_after_the_bounded_retries(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    sleep = RecordingSleep()
    fake.faults(rate_limit={"count": 100, "retry_after": "1"})
    cxone = make_client(sleep=sleep, max_retries=3)
    with pytest.raises(RateLimited) as caught:
        await cxone.list_webhooks()
    assert caught.value.retry_after == 1.0
    assert fake.stats()["api_requests"] == 4
    assert sleep.delays == [1.0, 1.0, 1.0]


async def test_5xx_is_retried_then_succeeds(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    sleep = RecordingSleep()
    fake.faults(fail={"count": 2, "status": 502})
    cxone = make_client(sleep=sleep)
    assert (await cxone.register_webhook(EDGE)).created
    assert fake.stats()["http_502"] == 2
    assert fake.stats()["webhooks"] == 1


async def test_5xx_beyond_the_retries_raises_server_error(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    fake.faults(fail={"count": 100, "status": 500})
    cxone = make_client(max_retries=2)
    with pytest.raises(ServerError):
        await cxone.list_webhooks()
    assert fake.stats()["http_500"] == 3


async def test_a_slow_answer_times_out_and_is_retried(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    fake.faults(slow={"count": 1, "seconds": 3.0})
    cxone = make_client(request_timeout_seconds=1.0)
    await cxone.tokens.token()
    assert await cxone.list_webhooks() == []
    assert fake.stats()["api_requests"] == 2


async def test_an_unreachable_host_raises_unreachable_after_retries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleep = RecordingSleep()
    settings = fast_settings(f"http://127.0.0.1:{port}", max_retries=2)
    async with CxoneClient(settings, sleep=sleep) as cxone:
        with pytest.raises(Unreachable, match="cannot reach CXone"):
            await cxone.list_webhooks()
    assert len(sleep.delays) == 2


async def test_the_token_bucket_keeps_the_client_under_the_tenant_limit(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    fake.faults(tenant_limit={"rate": 100, "burst": 20})
    cxone = make_client(rate_per_second=20, burst=5)
    await cxone.tokens.token()
    started = time.monotonic()
    await asyncio.gather(*(cxone.list_webhooks() for _ in range(30)))
    elapsed = time.monotonic() - started
    assert fake.stats().get("http_429", 0) == 0
    assert elapsed >= (30 - 5) / 20 * 0.98  # the configured rate held: never faster


async def test_without_the_bucket_the_same_burst_trips_the_tenant_limit(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    fake.faults(tenant_limit={"rate": 1, "burst": 20})
    cxone = make_client(max_retries=0)  # unthrottled: 10 000 a second
    await cxone.tokens.token()
    results = await asyncio.gather(
        *(cxone.list_webhooks() for _ in range(30)), return_exceptions=True
    )
    assert any(isinstance(result, RateLimited) for result in results)
    assert fake.stats()["http_429"] >= 10 - 1


async def test_409_returns_the_existing_registration_id(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client()
    first = await cxone.register_webhook(EDGE)
    again = await cxone.register_webhook(EDGE)
    assert first.created and not again.created
    assert again.id == first.id
    assert fake.stats()["http_409"] == 1
    assert fake.stats()["webhooks"] == 1


async def test_register_sends_name_url_scope_and_the_three_interaction_events(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client()
    registration = await cxone.register_webhook(EDGE)
    [listed] = await cxone.list_webhooks()
    assert listed == registration.webhook
    assert (listed.url, listed.name, listed.scope) == (EDGE, "cxone-router", "interactions:read")
    assert listed.events == (
        "interaction.created",
        "interaction.updated",
        "interaction.completed",
    )


async def test_delete_removes_and_an_unknown_id_is_not_found(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client()
    registration = await cxone.register_webhook(EDGE)
    await cxone.delete_webhook(registration.id)
    assert await cxone.list_webhooks() == []
    with pytest.raises(NotFound):
        await cxone.delete_webhook(registration.id)


async def test_repr_of_client_and_token_hides_the_token(
    fake: FakeCxone, make_client: Callable[..., CxoneClient]
) -> None:
    cxone = make_client()
    token = await cxone.tokens.token()
    assert token.value not in repr(token)
    assert token.value not in repr(cxone)
    assert "fake-client-secret" not in repr(cxone)
