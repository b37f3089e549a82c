"""A pipeline for one test module: real broker, real worker and edge processes."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from cxone_router.kafka.apache import ApacheKafka
from cxone_router.kafka.embedded import EMBEDDED_CLIENT_ENV, EmbeddedBroker, free_port
from cxone_router.kafka.reader import TopicReader
from cxone_router.observability.scrape import Scrape, parse
from cxone_router.stack import Stack

_counter = itertools.count()


Broker = EmbeddedBroker | ApacheKafka


def make_stack(broker: Broker | None, **overrides: str) -> Stack:
    """A Stack on `broker` (None = its own embedded broker) with a fresh topic prefix and
    the settings that go with the broker (production's on Apache Kafka)."""
    values = {
        "CXR_TOPIC_PREFIX": f"t{next(_counter)}{uuid.uuid4().hex[:6]}",
        "CXR_PARTITIONS": "4",
        "CXR_EDGE_PORT": str(free_port()),
        "CXR_METRICS_PORT": str(free_port()),
        "CXR_EMBEDDED_BROKER_PORT": "0",
        "CXR_LOG_FORMAT": "console",
        "CXR_LOG_LEVEL": "warning",
        "CXR_PUBLISH_TIMEOUT_SECONDS": "3",
        **(broker.client_env() if broker else EMBEDDED_CLIENT_ENV),
        **overrides,
    }
    return Stack.from_env(values)


def running(broker: Broker | None, **overrides: str) -> Iterator[Stack]:
    """For a fixture to `yield from`: a whole stack (worker and edge) on `broker`, stopped
    by pid afterwards."""
    stack = make_stack(broker, **overrides)
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop_all()


def edge_only(broker: Broker | None, log_dir: Path | None = None,
              **overrides: str) -> Iterator[Stack]:
    """For a fixture to `yield from`: an edge (no worker) on `broker`, or on an embedded
    broker of its own for None; each process's output in `log_dir`, when given."""
    stack = make_stack(broker, **overrides)
    stack.log_dir = log_dir
    try:
        stack.start_broker()  # with an outside broker, only where it is
        stack.ensure_topics()
        stack.start_edge()
        stack.wait_edge_ready()
        yield stack
    finally:
        stack.stop_all()


async def post(stack: Stack, body: bytes | dict[str, Any],
               content_type: str = "application/json") -> httpx.Response:
    if isinstance(body, dict):
        body = orjson.dumps(body)
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{stack.edge_url}/webhooks/cxone", content=body,
                                 headers={"content-type": content_type})


async def read(stack: Stack, topics: Sequence[str], done: Callable[[list[Any]], bool],
               timeout: float = 30) -> list[Any]:
    async with TopicReader(stack.kafka, topics) as reader:
        return await reader.read_until(done, timeout)


def values(records: list[Any], topic: str | None = None) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records if topic is None or r.topic == topic]


async def read_all(stack: Stack, topics: Sequence[str], timeout: float = 30) -> list[Any]:
    """Everything on `topics` up to their current end offsets."""
    async with TopicReader(stack.kafka, topics) as reader:
        return await reader.read_to_end(timeout)


async def wait_caught_up(stack: Stack, timeout: float = 60) -> None:
    """Wait until the worker group committed every raw record: all input is processed."""
    from aiokafka import TopicPartition

    from tests.waiting import wait_until_async

    # A consumer that names the group but never subscribes only reads its offsets.
    probe = stack.kafka.consumer(group_id=f"{stack.settings.topic_prefix}-router",
                                 enable_auto_commit=False)
    await probe.start()
    try:
        partitions = [TopicPartition(stack.topics.raw, p)
                      for p in range(stack.settings.partitions)]
        lag: dict[int, int] = {}

        async def caught_up() -> bool:
            ends = await probe.end_offsets(partitions)
            lag.update({tp.partition: end - (await probe.committed(tp) or 0)
                        for tp, end in ends.items()})
            return all(v <= 0 for v in lag.values())

        await wait_until_async(caught_up, "the worker group commits every raw record",
                               timeout, seen=lambda: f"behind, by partition: {lag}")
    finally:
        await probe.stop()


def scrape(url: str) -> Scrape:
    """A /metrics page, parsed the way `cxone-router status` parses it."""
    return Scrape(url, time.monotonic(), parse(httpx.get(url, timeout=5).text))


def sample(page: Scrape, name: str, **labels: str) -> float:
    """The value of the sample with exactly these labels (0 when there is none)."""
    return next((s.value for s in page.series(name) if dict(s.labels) == labels), 0.0)


def metric(url: str, name: str) -> float | None:
    """The first sample named `name` on a /metrics page (None when absent)."""
    found = scrape(url).series(name)
    return found[0].value if found else None
