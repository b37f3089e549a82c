from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.kafka.embedded import EmbeddedBroker
from pipeline.stack import Stack
from tests.integration.harness import make_stack


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One embedded broker for the session; each test module uses its own topic prefix."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture(scope="module")
def stack(broker: EmbeddedBroker) -> Iterator[Stack]:
    """Worker and edge processes, shared by a module's tests; stopped by pid afterwards.
    Workers measure consumer lag every second, so tests see it soon."""
    running = make_stack(broker.bootstrap, CXR_LAG_CHECK_SECONDS="1")
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()
