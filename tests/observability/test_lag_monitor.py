"""What the lag monitor exports when it does not know: nothing, never "caught up".

Invariants: a partition with records to process whose oldest record the check could not
read has no `cxr_consumer_lag_seconds` sample (not 0) and is counted as unknown; a worker
whose last successful check is stale exports no lag at all (its frozen, growing age would
otherwise win `max` across workers and page for a breach that is not there), while its
last-check timestamp stays for the alert that watches it. No broker is needed: the figures
are set as a check leaves them, and collected as a scrape does.
"""

from __future__ import annotations

import time

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from cxone_router.agents.group_monitor import GroupMonitor, PartitionLag

GROUP = "cxone-router"


def monitor(checked_ago: float | None) -> tuple[GroupMonitor, CollectorRegistry]:
    registry = CollectorRegistry()
    m = GroupMonitor("127.0.0.1:1", GROUP, ["raw"], registry)  # never started: no I/O
    now = time.time()
    m.lag = {
        TopicPartition("raw", 0): PartitionLag(10, 10, None),  # caught up
        TopicPartition("raw", 1): PartitionLag(4, 10, now - 12),  # 12 s behind
        TopicPartition("raw", 2): PartitionLag(4, 10, None),  # behind, record not read
    }
    m.members = 2
    m.checked_at = None if checked_ago is None else now - checked_ago
    return m, registry


def lag(registry: CollectorRegistry, partition: int) -> float | None:
    return registry.get_sample_value("cxr_consumer_lag_seconds", {
        "group": GROUP, "topic": "raw", "partition": str(partition)})


def test_a_partition_not_read_is_unknown_not_caught_up() -> None:
    _, registry = monitor(checked_ago=1)
    assert lag(registry, 0) == 0
    assert 11 < (lag(registry, 1) or 0) < 14
    assert lag(registry, 2) is None
    assert registry.get_sample_value("cxr_consumer_lag_unknown_partitions",
                                     {"group": GROUP}) == 1


def test_a_stale_reporter_withholds_its_lag_but_says_when_it_last_checked() -> None:
    m, registry = monitor(checked_ago=10 * 60)
    assert [lag(registry, p) for p in range(3)] == [None, None, None]
    assert registry.get_sample_value("cxr_consumer_lag_records", {
        "group": GROUP, "topic": "raw", "partition": "1"}) is None
    assert registry.get_sample_value("cxr_consumer_lag_unknown_partitions",
                                     {"group": GROUP}) is None
    assert m.checked_at is not None
    assert registry.get_sample_value("cxr_consumer_lag_checked_timestamp_seconds",
                                     {"group": GROUP}) == m.checked_at


def test_stale_means_three_check_intervals_and_some() -> None:
    m, registry = monitor(checked_ago=20)
    assert lag(registry, 1) is not None  # 20 s: within 3 x 5 s + 10 s
    m.stale_after_seconds = 3 * 1 + 10  # what `run(1)` sets
    assert lag(registry, 1) is None
