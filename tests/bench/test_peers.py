"""The peers phase runs the same job on the Faust worker, Quix Streams and a plain aiokafka
loop, and all three write the same records: the expected number, byte for byte.

Correctness only, never speed (these machines are shared)."""

from __future__ import annotations

import importlib.util
from collections import Counter

import pytest

from cxone_router.bench.peers import CANDIDATES, peers_phase
from cxone_router.bench.peers.outputs import Collector, Summary
from cxone_router.bench.traffic import webhooks
from cxone_router.mapping import Normalizer
from cxone_router.payload import decode
from cxone_router.routing import load_routes
from cxone_router.settings import load_settings

EVENTS = 2_000


def expected_by_topic(count: int) -> Counter[str]:
    """Independently of the candidates and of `EventOutputs`: per distinct event, one
    record on its channel's topic and one per route whose filter takes it."""
    settings = load_settings()
    normalizer = Normalizer.from_dir(settings.schemas_dir)
    routes = load_routes(settings.schemas_dir)
    counts: Counter[str] = Counter()
    keys = set()
    for w in webhooks(count, seed=23, schemas_dir=settings.schemas_dir):
        payload = decode(w.body, w.content_type)
        idempotency_key = normalizer.keys(payload).idempotency_key
        if idempotency_key in keys:  # a duplicate writes nothing
            continue
        keys.add(idempotency_key)
        record = normalizer.normalize(payload, 1)
        counts[f".interactions.{record['channel']}"] += 1
        for route in routes:
            if route.matches(record):
                counts[f".fanout.{route.name}"] += 1
    return counts


@pytest.mark.integration
@pytest.mark.apache
@pytest.mark.timeout(180)
def test_every_peer_writes_the_same_records_and_loses_none() -> None:
    assert importlib.util.find_spec("quixstreams") is not None, \
        "quixstreams is missing: install the bench extra (pip install -e '.[dev,bench]')"
    expected = expected_by_topic(EVENTS)
    assert expected[".fanout.analytics"] == EVENTS  # every event: nothing lost

    base = load_settings().model_copy(update={"kafka_bootstrap": None})  # its own broker
    result = peers_phase(base, EVENTS)

    assert [c.name for c in result.candidates] == list(CANDIDATES)
    assert result.expected_by_topic == dict(sorted(expected.items()))
    assert result.expected_records == sum(expected.values())
    for c in result.candidates:
        assert c.by_topic == result.expected_by_topic, c.name  # no dead letters either
        assert c.records == result.expected_records, c.name
        assert c.identical and c.differing_streams == 0, c.name
        assert c.events_per_second > 0 and c.worker_cpu_ms_per_1k > 0, c.name
    assert result.identical
    table = result.to_markdown()
    assert table.count("| yes (") == len(CANDIDATES) and "NO" not in table


Row = tuple[str, int, bytes, bytes, list[tuple[str, bytes]]]


def summary(prefix: str, rows: list[Row]) -> Summary:
    collector = Collector(prefix)
    for topic, partition, key, value, headers in rows:
        collector.add(prefix + topic, partition, key, value, headers)
    return collector.summary()


def test_the_comparison_sees_order_headers_partitions_and_missing_records() -> None:
    """Per (topic without prefix, key): the records in order, their values and headers,
    and the partition."""
    rows: list[Row] = [(".t", 0, b"k1", b"a", [("h", b"1")]), (".t", 0, b"k1", b"b", [("h", b"2")]),
                       (".u", 3, b"k2", b"c", [])]
    same = summary("x", rows)
    assert summary("y", rows) == same  # the prefix is not compared
    changes: list[list[Row]] = [
        [rows[1], rows[0], rows[2]],  # order within a key
        [rows[0], (".t", 0, b"k1", b"b", [("h", b"3")]), rows[2]],  # a header
        [rows[0], (".t", 0, b"k1", b"b", [("h", b"2"), ("i", b"")]), rows[2]],  # one more
        [rows[0], rows[1], (".u", 4, b"k2", b"c", [])],  # a partition
        rows[:2],  # a record missing
        [*rows, rows[2]],  # one written twice
    ]
    for changed in changes:
        other = summary("x", changed)
        assert other != same and other.differences(same) == 1
