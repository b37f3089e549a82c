"""What the brokers can serve is asked of them: the embedded broker gives out no producer
ids, Apache Kafka does. A writing command pointed at either with only CXR_KAFKA_BOOTSTRAP
set (no CXR_KAFKA_IDEMPOTENCE) writes: it used to assume idempotence from the bootstrap
being set, and failed with UnknownError on the embedded broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import orjson
import pytest

from cxone_router.kafka.apache import ApacheKafka
from cxone_router.kafka.capabilities import serves_idempotence
from cxone_router.kafka.clients import Connection
from cxone_router.samples import brief
from cxone_router.stack import Stack
from tests.integration.harness import Broker, edge_only, post

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def edge(broker: Broker) -> Iterator[Stack]:
    yield from edge_only(broker)


def test_the_brokers_say_whether_they_give_out_producer_ids(broker: Broker) -> None:
    served = asyncio.run(serves_idempotence(Connection(broker.bootstrap)))
    assert served is isinstance(broker, ApacheKafka)


def test_nothing_answering_is_no_answer_not_a_guess() -> None:
    assert asyncio.run(serves_idempotence(Connection("127.0.0.1:1"), timeout=3)) is None


def test_reprocess_writes_with_only_the_bootstrap_set(edge: Stack, broker: Broker) -> None:
    response = asyncio.run(post(edge, brief("interaction.created", "cap-voice-1", "voice")))
    assert response.status_code == 202
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXR_")}
    env.update({"CXR_KAFKA_BOOTSTRAP": broker.bootstrap,
                "CXR_TOPIC_PREFIX": edge.settings.topic_prefix,
                "CXR_REDACTION_KEY": "capabilities-test-key"})
    done = subprocess.run([sys.executable, "-m", "cxone_router", "reprocess", "--since", "5m",
                           "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = orjson.loads(done.stdout)
    assert summary["events"] == {"voice": 1}, summary
    assert summary["records"].get(edge.topics.channel("voice")) == 1, summary
