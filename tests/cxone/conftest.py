"""A real fake CXone on a loopback port for the whole session, reset before each test."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from cxone_router.cxone.client import CxoneClient
from cxone_router.cxone.fake.serve import FakeCxoneServer
from tests.cxone.helpers import FakeCxone, RecordingSleep, fast_settings


@pytest.fixture(autouse=True)
def no_cxone_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read a developer's real CXR_CXONE_* settings."""
    import os

    for name in list(os.environ):
        if name.startswith("CXR_CXONE_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeCxone]:
    with FakeCxoneServer() as base_url:
        fake = FakeCxone(base_url)
        yield fake
        fake.control.close()


@pytest.fixture
def fake(fake_server: FakeCxone) -> FakeCxone:
    fake_server.reset()
    return fake_server


@pytest.fixture
async def make_client(fake: FakeCxone) -> AsyncIterator[Callable[..., CxoneClient]]:
    clients: list[CxoneClient] = []

    def make(
        *, clock: Callable[[], float] | None = None, sleep: RecordingSleep | None = None,
        **overrides: Any,
    ) -> CxoneClient:
        kwargs: dict[str, Any] = {"rng": random.Random(7)}
        if clock is not None:
            kwargs["clock"] = clock
        if sleep is not None:
            kwargs["sleep"] = sleep
        client = CxoneClient(fast_settings(fake.base_url, **overrides), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
