"""The durable ack's deadline, over real HTTP with a real broker.

Invariants: a webhook the broker does not acknowledge within the publish timeout is
answered 503 (never 202), and once the broker answers again the edge accepts again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest

from cxone_router.kafka.embedded import EmbeddedBroker
from cxone_router.samples import brief
from cxone_router.stack import Stack
from tests.integration.harness import edge_only, post

pytestmark = pytest.mark.integration


@pytest.fixture
def edge() -> Iterator[Stack]:
    yield from edge_only(None, CXR_PUBLISH_TIMEOUT_SECONDS="1")  # a broker of its own


async def test_a_write_the_broker_does_not_acknowledge_is_answered_503(edge: Stack) -> None:
    assert (await post(edge, brief("interaction.created", "before", "sms"))).status_code == 202
    assert isinstance(edge.broker, EmbeddedBroker)
    (pid,) = edge.broker.pids
    os.kill(pid, signal.SIGSTOP)  # connected, but answering nothing
    try:
        response = await post(edge, brief("interaction.created", "paused", "sms"))
    finally:
        os.kill(pid, signal.SIGCONT)
    assert response.status_code == 503
    assert response.json()["error"] == "event not confirmed by the broker, retry later"
    assert int(response.headers["retry-after"]) > 0

    after = brief("interaction.created", "after", "sms")
    deadline = time.monotonic() + 30
    while (status := (await post(edge, after)).status_code) != 202:
        assert status == 503
        assert time.monotonic() < deadline, "edge did not accept again within 30 s"
        await asyncio.sleep(0.2)
