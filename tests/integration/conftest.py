"""The integration suite runs on both brokers: the embedded one (fast) and a three-node
Apache Kafka cluster with production's settings (idempotent producer, replication factor
3, min.insync.replicas=2). `CXR_TEST_BROKERS=embedded` (or `apache`) runs one of them."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from cxone_router.kafka.apache import ApacheKafka
from cxone_router.kafka.embedded import EmbeddedBroker
from cxone_router.stack import Stack
from tests.conftest import BROKERS
from tests.integration.harness import Broker, make_stack


@pytest.fixture(scope="session", params=BROKERS)
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """One broker for the session per kind; each test module uses its own topic prefix."""
    if request.param == "embedded":
        with EmbeddedBroker() as embedded:
            yield embedded
    elif request.param == "apache":
        with ApacheKafka(nodes=3) as cluster:
            yield cluster
    else:
        raise pytest.UsageError(f"CXR_TEST_BROKERS: unknown broker {request.param!r}")


@pytest.fixture(scope="module")
def stack(broker: Broker) -> Iterator[Stack]:
    """Worker and edge processes, shared by a module's tests; stopped by pid afterwards.
    Workers measure consumer lag every second, so tests see it soon."""
    running = make_stack(broker, CXR_LAG_CHECK_SECONDS="1")
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


@pytest.hookimpl(tryfirst=True)
def pytest_itemcollected(item: pytest.Item) -> None:
    """A test run on Apache Kafka through the `broker` fixture is marked `apache` too, so
    that `-m apache` selects the whole Apache Kafka half (make test runs the halves at
    once) and `-m "not apache"` the rest."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("broker") == "apache":
        item.add_marker(pytest.mark.apache)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    """A failing test on Apache Kafka shows the end of every node's log."""
    outcome = yield
    report = outcome.get_result()
    broker = getattr(item, "funcargs", {}).get("broker")
    if report.failed and isinstance(broker, ApacheKafka):
        report.sections.append(("Apache Kafka nodes' logs", broker.logs()))
