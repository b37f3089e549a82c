"""Exactly once, the parts the fault drills do not show one by one: where the broker can do
transactions the worker runs exactly once, and its outputs are readable read_committed only
once their transaction committed; the end of a changelog a recovery waits for is its last
committed record, not its end offset (a transaction's marker takes the last offset);
where the broker cannot (the embedded one), the worker says so in one line and runs at
least once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from cxone_router.agents.faust_patches import last_records
from cxone_router.kafka.embedded import EmbeddedBroker
from cxone_router.samples import brief
from cxone_router.stack import Stack
from tests.integration.harness import Broker, make_stack, post, read, values

pytestmark = pytest.mark.integration


@pytest.mark.apache  # the embedded broker has no transactions to write the markers
def test_a_changelogs_end_is_its_last_committed_record(broker: Broker) -> None:
    asyncio.run(_last_committed(make_stack(broker)))


async def _last_committed(stack: Stack) -> None:
    kafka = stack.kafka
    topic = f"tail-{uuid.uuid4().hex[:8]}"
    producer = kafka.producer(transactional_id=f"{topic}-t", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(3):  # offsets 0, 2, 4 (markers at 1, 3, 5)
            await producer.begin_transaction()
            await producer.send_and_wait(topic, b"%d" % i, partition=0)
            await producer.commit_transaction()
        await producer.begin_transaction()  # 6..45 aborted, the marker at 46
        for _ in range(40):
            await producer.send(topic, b"aborted", partition=0)
        await producer.flush()
        await producer.abort_transaction()
    finally:
        await producer.stop()
    tp = TopicPartition(topic, 0)
    probe = kafka.consumer(group_id=None, enable_auto_commit=False)
    await probe.start()
    try:
        assert (await probe.end_offsets([tp]))[tp] == 47
    finally:
        await probe.stop()
    found = await last_records(kafka.consumer(group_id=None, enable_auto_commit=False), {tp})
    assert found == {tp: 4}


def test_the_worker_runs_exactly_once_where_the_broker_can(broker: Broker,
                                                           tmp_path: Path) -> None:
    stack = make_stack(broker, CXR_PROCESSING_GUARANTEE="exactly_once", CXR_LOG_LEVEL="info")
    stack.log_dir = tmp_path
    stack.quiet = False
    try:
        stack.start_all()
        interaction = f"eos-{uuid.uuid4().hex[:8]}"
        body = brief("interaction.created", interaction, "chat")
        assert asyncio.run(post(stack, body)).status_code == 202
        records = asyncio.run(read(stack, [stack.topics.channel("chat")],
                                   lambda rs: bool(rs), timeout=60))
        assert [v["interactionId"] for v in values(records)] == [interaction]
    finally:
        stack.stop_all()
    log = (tmp_path / "worker.log").read_text()
    if isinstance(broker, EmbeddedBroker):
        assert "worker starting (at_least_once)" in log
        warning = [line for line in log.splitlines() if "cannot do transactions" in line]
        assert len(warning) == 1 and "running at_least_once" in warning[0]
        assert "Traceback" not in log
    else:
        assert "worker starting (exactly_once)" in log
        assert "cannot do transactions" not in log
