"""Every size limit along the path agrees: what the edge accepts, the worker can write,
also as a dead letter; a record no topic will take is dead-lettered, never retried forever."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import orjson
import pytest

from cxone_router.kafka.headers import DLQ_BODY_OMITTED, DLQ_PREFIX, as_dict
from cxone_router.kafka.topics import ensure_topics
from cxone_router.samples import brief
from cxone_router.stack import Stack
from tests.integration.harness import Broker, make_stack, post, read, running, values

pytestmark = pytest.mark.integration
SMALL_BODY_LIMIT = 100_000


@pytest.fixture(scope="module")
def default_limits(broker: Broker) -> Iterator[Stack]:
    yield from running(broker)


@pytest.fixture(scope="module")
def small_limits() -> Iterator[Stack]:
    """On an embedded broker of its own: the producer refuses the record before any
    broker sees it (a broker's refusal is the Apache Kafka test below)."""
    yield from running(None, CXR_MAX_BODY_BYTES=str(SMALL_BODY_LIMIT))


def _padded(event: dict, size: int) -> bytes:
    """`event` with an unknown field that brings its JSON to exactly `size` bytes."""
    event = {**event, "padding": ""}
    event["padding"] = "x" * (size - len(orjson.dumps(event)))
    body = orjson.dumps(event)
    assert len(body) == size
    return body


async def test_a_dead_letter_as_large_as_the_edge_accepts_is_written(
        default_limits: Stack) -> None:
    """It used to be refused by the worker's producer (1,000,000 bytes) and retried
    forever: the worker stalled and nothing after it came out."""
    stack = default_limits
    limit = stack.settings.max_body_bytes
    unroutable = _padded({"eventId": "too-big-1", "interactionId": "i-big"}, limit)
    assert (await post(stack, unroutable)).status_code == 202
    after = brief("interaction.created", "after-the-big-one", "sms")
    assert (await post(stack, after)).status_code == 202

    records = await read(stack, [stack.topics.dlq, stack.topics.channel("sms")],
                         lambda rs: len(rs) >= 2, timeout=60)
    dead = [r for r in records if r.topic == stack.topics.dlq]
    assert [r.value for r in dead] == [unroutable]
    assert as_dict(dead[0].headers)[DLQ_PREFIX + "reason"] == b"unknown_channel"
    assert [v["interactionId"] for v in values(records, stack.topics.channel("sms"))] == [
        "after-the-big-one"]


async def test_a_record_over_the_limit_is_dead_lettered_not_retried(
        small_limits: Stack) -> None:
    """A form body's %01 is one byte; in the JSON record it is six (\\u0001): a body
    under the edge's limit can normalize to a record over every producer's and topic's."""
    stack = small_limits
    control = "%01" * ((SMALL_BODY_LIMIT - 200) // 3)
    body = f"contactId=c-1&masterId=m-1&ani={control}&dnis=100&skill=s".encode()
    assert len(body) <= SMALL_BODY_LIMIT
    assert (await post(stack, body, "application/x-www-form-urlencoded")).status_code == 202
    after = brief("interaction.created", "after-the-expanding-one", "sms")
    assert (await post(stack, after)).status_code == 202

    records = await read(stack, [stack.topics.dlq, stack.topics.channel("sms")],
                         lambda rs: len(rs) >= 2, timeout=60)
    dead = [r for r in records if r.topic == stack.topics.dlq]
    assert [r.value for r in dead] == [body]
    headers = as_dict(dead[0].headers)
    assert headers[DLQ_PREFIX + "reason"] == b"too_large"
    assert headers[DLQ_PREFIX + "stage"] == b"deliver"
    assert [v["interactionId"] for v in values(records, stack.topics.channel("sms"))] == [
        "after-the-expanding-one"]
    voice = await read(stack, [stack.topics.channel("voice")], lambda rs: False, timeout=2)
    assert voice == [], "the record over the limit reached its channel topic after all"


@pytest.mark.apache
async def test_records_a_broker_refuses_for_good_are_neither_retried_nor_lost(
        broker: Broker) -> None:
    """Topics made with a lower max.message.bytes than ours (by hand, or before this
    release): the edge answers 413 instead of a 503 the sender would retry for ever, and a
    dead letter the DLQ refuses goes there without its body, which the raw topic keeps."""
    stack = make_stack(broker)
    await ensure_topics(stack.kafka, [stack.topics.raw], stack.settings.partitions,
                        stack.replication_factor, max_message_bytes=8192)
    await ensure_topics(stack.kafka, [stack.topics.dlq], stack.settings.partitions,
                        stack.replication_factor, max_message_bytes=4096)
    try:
        await asyncio.to_thread(stack.start_all)
        unroutable = _padded({"eventId": "refused-dlq", "interactionId": "i-r"}, 6000)
        assert (await post(stack, unroutable)).status_code == 202
        too_big = await post(stack, _padded({"eventId": "refused-raw"}, 10_000))
        assert too_big.status_code == 413
        assert "refused the event for good" in too_big.json()["error"]
        after = brief("interaction.created", "after-the-refusals", "sms")
        assert (await post(stack, after)).status_code == 202

        records = await read(stack, [stack.topics.dlq, stack.topics.channel("sms")],
                             lambda rs: len(rs) >= 2, timeout=60)
        dead = [r for r in records if r.topic == stack.topics.dlq]
        assert [r.value for r in dead] == [b""]
        headers = as_dict(dead[0].headers)
        assert headers[DLQ_PREFIX + "reason"] == b"unknown_channel"
        assert headers[DLQ_BODY_OMITTED] in (b"MessageSizeTooLargeError",
                                             b"RecordListTooLargeError")
        raw = await read(stack, [stack.topics.raw], lambda rs: len(rs) >= 2)
        source = int(headers[DLQ_PREFIX + "source-offset"])
        partition = int(headers[DLQ_PREFIX + "source-partition"])
        assert [r.value for r in raw if (r.partition, r.offset) == (partition, source)] == [
            unroutable]
        assert [v["interactionId"] for v in values(records, stack.topics.channel("sms"))] == [
            "after-the-refusals"]
    finally:
        stack.stop_all()
