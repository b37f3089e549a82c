"""docs/examples/consumer.py, run as a downstream team runs it, against the running
pipeline: webhooks posted to the edge reach it with the key, headers and order
docs/consumers.md promises, and a restart in the same group goes on where it stopped.

On both brokers: on Apache Kafka the worker writes in transactions (exactly once) and the
example reads them read_committed, as the guide says."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from cxone_router.agents.delivery import key_partition
from cxone_router.kafka.headers import CONTENT_TYPE, MAPPING_VERSION, RECEIVED_NS, REQUEST_ID
from cxone_router.redaction import REDACTED_HEADER
from cxone_router.routing import load_routes
from cxone_router.samples import brief
from cxone_router.settings import REPO_ROOT
from cxone_router.stack import Stack
from tests.integration.harness import post

pytestmark = pytest.mark.integration

EXAMPLE = REPO_ROOT / "docs" / "examples" / "consumer.py"
GUIDE = REPO_ROOT / "docs" / "consumers.md"
STEPS = ("interaction.created", "interaction.updated", "interaction.transferred",
         "interaction.completed")
CHANNELS = ("voice", "sms")
ROUTE = "analytics"  # takes every record, and redacts
STOP_SECONDS = 30  # SIGTERM to exit: a group leave and a commit


def documented_headers() -> set[str]:
    """The header names in the first column of docs/consumers.md's header table."""
    return set(re.findall(r"^\| `([a-z-]+)` \|", GUIDE.read_text(), re.MULTILINE))


async def post_round(stack: Stack, tag: str) -> dict[str, tuple[str, ...]]:
    """Two interactions per channel, their steps interleaved, each posted after the
    previous one was accepted: interaction id -> its event types in the order sent."""
    ids = [f"{tag}-{channel}-{i}-{uuid.uuid4().hex[:8]}" for channel in CHANNELS
           for i in range(2)]
    for step in STEPS:
        for iid in ids:
            response = await post(stack, brief(step, iid, iid.split("-")[1]))
            assert response.status_code == 202, response.text
    return dict.fromkeys(ids, STEPS)


@contextlib.asynccontextmanager
async def example(stack: Stack, group: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """The example consumer as a child process, reading the two channel topics and the
    route's, stopped with SIGTERM (then by pid, if it has to be) and checked to exit 0."""
    topics = [stack.topics.channel(c) for c in CHANNELS] + [stack.topics.fanout(ROUTE)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), "--bootstrap", stack.bootstrap, "--group", group,
        *(a for t in topics for a in ("--topic", t)),
        stdout=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        yield process
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), STOP_SECONDS) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def lines(process: asyncio.subprocess.Process, count: int,
                timeout: float = 90) -> list[dict[str, Any]]:
    """The first `count` records the example printed."""
    assert process.stdout is not None
    out = []
    async with asyncio.timeout(timeout):
        while len(out) < count:
            line = await process.stdout.readline()
            assert line, f"the example exited after {len(out)} records"
            out.append(orjson.loads(line))
    return out


def check_contract(stack: Stack, seen: list[dict[str, Any]],
                   sent: dict[str, tuple[str, ...]]) -> None:
    """Every record is keyed by its interaction id, on the partition Kafka's default
    partitioner gives that key, with the documented headers; each interaction's records
    come in the order sent, once per topic; the route's copies are redacted."""
    redact = next(r.redact for r in load_routes(stack.settings.schemas_dir) if r.name == ROUTE)
    by_topic: dict[tuple[str, str], list[str]] = defaultdict(list)
    identifiers: dict[str, str | None] = {}
    for line in seen:
        record, headers, topic = line["record"], line["headers"], line["topic"]
        assert line["key"] == record["interactionId"], line
        assert line["partition"] == key_partition(line["key"].encode(),
                                                  stack.settings.partitions), line
        assert headers[CONTENT_TYPE] == "application/json"
        assert headers[MAPPING_VERSION] == record["mappingVersion"]
        assert re.fullmatch(r"m-[0-9a-f]{12}", headers[MAPPING_VERSION])
        assert int(headers[RECEIVED_NS]) > 0 and headers[REQUEST_ID]
        undocumented = set(headers) - documented_headers()
        assert not undocumented, f"headers missing from {GUIDE.name}: {undocumented}"
        by_topic[(topic, record["interactionId"])].append(record["eventType"])
        if topic == stack.topics.fanout(ROUTE):
            assert headers[REDACTED_HEADER] == ",".join(f"{f}={a}" for f, a in redact)
            assert re.fullmatch(r"[0-9a-f]{64}", record["customer"]["identifier"])
            assert "messageText" not in record["context"]
        else:
            assert REDACTED_HEADER not in headers
            identifiers[record["idempotencyKey"]] = record["customer"]["identifier"]
    assert all(i and i.startswith("+1555") for i in identifiers.values()), identifiers
    expected_topics = [stack.topics.channel(iid.split("-")[1]) for iid in sent]
    expected_topics += [stack.topics.fanout(ROUTE)] * len(sent)
    expected = set(zip(expected_topics, [*sent, *sent], strict=True))
    assert set(by_topic) == expected, (
        f"not sent in this round (read again: offsets not committed?): "
        f"{sorted(set(by_topic) - expected)}; missing: {sorted(expected - set(by_topic))}")
    for (topic, iid), event_types in by_topic.items():
        assert tuple(event_types) == sent[iid], f"{topic} {iid}: out of order or twice"


async def test_the_example_consumer_gets_what_the_guide_promises(stack: Stack) -> None:
    group = f"{stack.settings.topic_prefix}.example-loader"
    first = await post_round(stack, "first")
    per_round = 2 * len(first) * len(STEPS)  # a channel record and the route's copy each
    async with example(stack, group) as process:
        seen = await lines(process, per_round)
    check_contract(stack, seen, first)

    # The same group again: it goes on from its committed offsets, so it sees only what
    # came since, each record once
    second = await post_round(stack, "second")
    async with example(stack, group) as process:
        again = await lines(process, per_round)
    check_contract(stack, again, second)
