"""Consumer lag of the worker group, per topic and partition, and the group's members.

Every worker measures the whole group (not only its own partitions), so lag stays visible
while a worker is down or the group rebalances; dashboards take `max by (topic, partition)`.

- Lag in records: the partition's end offset minus the group's committed offset. The
  embedded broker under-reports end offsets (the last batch's base offset + 1), so the end
  is also raised to the last offset read here; on Apache Kafka the end offset is exact.
- Lag in seconds: the age of the oldest record not yet processed, i.e. of the record at
  the committed offset, read from the topic itself (end offsets play no part, so it is
  right on both brokers). It is computed at scrape time from that record's timestamp, so
  it keeps growing while nothing is committed, even if a check fails. A partition with
  records to process whose record could not be read within the timeout is unknown: no
  sample (and counted in `cxr_consumer_lag_unknown_partitions`), never 0 ("caught up").
- Stale figures are withheld: when the last successful check is older than
  `stale_after_seconds` (three check intervals and some), no lag sample at all, so a
  worker whose checks fail cannot turn its frozen, growing age into a false breach under
  `max`; `cxr_consumer_lag_checked_timestamp_seconds` says since when (an alert watches it).
- Members: DescribeGroups on the worker group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cxone_router.kafka.clients import Connection

log = logging.getLogger(__name__)
READ_TIMEOUT_SECONDS = 2.0
STALE_AFTER_CHECKS = 3  # intervals without a successful check before the figures go
STALE_SLACK_SECONDS = 10.0  # what one check may take (admin requests, the read timeout)


@dataclass(slots=True)
class PartitionLag:
    committed: int
    end: int
    oldest_unprocessed: float | None  # record timestamp (s); None = none read

    def records(self) -> int:
        return max(0, self.end - self.committed)

    def seconds(self, now: float) -> float | None:
        """The oldest unprocessed record's age; 0 when caught up; None (unknown) when
        there are records to process but the one at the committed offset was not read."""
        if self.oldest_unprocessed is None:
            return None if self.records() > 0 else 0.0
        return max(0.0, now - self.oldest_unprocessed)


class GroupMonitor(Collector):
    def __init__(self, kafka: Connection, group: str, topics: list[str],
                 registry: CollectorRegistry | None = None) -> None:
        self._kafka = kafka
        self.group = group
        self._topics = topics
        self.lag: dict[TopicPartition, PartitionLag] = {}
        self.members: int | None = None
        self.checked_at: float | None = None
        # beyond this since the last successful check, the lag figures are withheld;
        # `run` sets it from its interval
        self.stale_after_seconds = STALE_AFTER_CHECKS * 5 + STALE_SLACK_SECONDS
        self._probe: AIOKafkaConsumer | None = None  # names the group, never joins it
        self._reader: AIOKafkaConsumer | None = None  # no group: reads at committed offsets
        self._admin: AIOKafkaAdminClient | None = None
        self._partitions: list[TopicPartition] = []
        if registry is not None:
            registry.register(self)

    # ---- the check -------------------------------------------------------------------

    async def start(self) -> None:
        self._probe = self._kafka.consumer(group_id=self.group, enable_auto_commit=False)
        self._reader = self._kafka.consumer(
            group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", fetch_max_wait_ms=50,
            max_partition_fetch_bytes=16 * 1024)
        self._admin = self._kafka.admin(request_timeout_ms=5_000)
        await self._probe.start()
        await self._reader.start()
        await self._admin.start()

    async def stop(self) -> None:
        for client in (self._reader, self._probe):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()

    async def run(self, interval: float) -> None:
        """Check every `interval` seconds until cancelled; a failed check is logged and
        the previous figures kept (the age goes on growing) until they are stale."""
        self.stale_after_seconds = STALE_AFTER_CHECKS * interval + STALE_SLACK_SECONDS
        await self.start()
        try:
            while True:
                try:
                    await self.check()
                except Exception as exc:  # noqa: BLE001 - a monitor must not stop the worker
                    log.warning("consumer lag check failed", extra={"error": repr(exc)})
                await asyncio.sleep(interval)
        finally:
            await self.stop()

    async def check(self) -> None:
        probe, reader = self._probe, self._reader
        assert probe is not None and reader is not None
        if not self._partitions:
            found = await self._topic_partitions()
            if not found:
                return
            self._partitions = found
            reader.assign(found)
        tps = self._partitions
        ends = await probe.end_offsets(tps)
        starts = await probe.beginning_offsets(tps)
        committed = {}
        for tp in tps:
            offset = await probe.committed(tp)
            committed[tp] = starts[tp] if offset is None else max(offset, starts[tp])
        first, last = await self._read_at(committed)
        self.lag = {
            tp: PartitionLag(committed[tp], max(ends[tp], last.get(tp, -1) + 1), first.get(tp))
            for tp in tps
        }
        self.members = await self._members()
        self.checked_at = time.time()

    async def _topic_partitions(self) -> list[TopicPartition]:
        """The partitions of the watched topics, asked of the cluster (a consumer's own
        metadata holds only the topics it subscribed to: none, on Apache Kafka)."""
        assert self._admin is not None
        described = await self._admin.describe_topics(self._topics)
        return sorted(TopicPartition(t["topic"], p["partition"])
                      for t in described if t["error_code"] == 0 for p in t["partitions"])

    async def _read_at(self, offsets: dict[TopicPartition, int]
                       ) -> tuple[dict[TopicPartition, float], dict[TopicPartition, int]]:
        """The timestamp of the record at each offset (if one exists yet), and the last
        offset seen per partition. A partition with nothing to read answers empty after
        the short fetch wait."""
        reader = self._reader
        assert reader is not None
        reader.resume(*offsets)
        for tp, offset in offsets.items():
            reader.seek(tp, offset)
        first: dict[TopicPartition, float] = {}
        last: dict[TopicPartition, int] = {}
        empty_rounds = 0
        deadline = time.monotonic() + READ_TIMEOUT_SECONDS
        try:
            while len(first) < len(offsets) and time.monotonic() < deadline:
                batch = await reader.getmany(timeout_ms=100, max_records=len(offsets) * 50)
                if not batch:
                    empty_rounds += 1
                    if empty_rounds >= 2:  # every partition with data has answered
                        break
                    continue
                empty_rounds = 0
                for tp, records in batch.items():
                    if records:
                        first.setdefault(tp, records[0].timestamp / 1000)
                        last[tp] = records[-1].offset
                        reader.pause(tp)
        finally:
            reader.pause(*offsets)
        return first, last

    async def _members(self) -> int:
        assert self._admin is not None
        responses = await self._admin.describe_consumer_groups([self.group])
        for response in responses:
            for group in response.groups:
                if group[1] == self.group:
                    return len(group[5])
        return 0

    # ---- the metrics, computed at scrape time ------------------------------------------

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        records = GaugeMetricFamily(
            "cxr_consumer_lag_records", "Records of a partition the worker group has not "
            "committed yet (end offset minus committed offset)",
            labels=["group", "topic", "partition"])
        seconds = GaugeMetricFamily(
            "cxr_consumer_lag_seconds", "Age of the oldest record of a partition the worker "
            "group has not committed yet (0 when caught up; no sample when unknown)",
            labels=["group", "topic", "partition"])
        fresh = (self.checked_at is not None
                 and now - self.checked_at <= self.stale_after_seconds)
        unknown = 0
        for tp, lag in sorted(self.lag.items()) if fresh else ():
            labels = [self.group, tp.topic, str(tp.partition)]
            records.add_metric(labels, lag.records())
            age = lag.seconds(now)
            if age is None:
                unknown += 1
            else:
                seconds.add_metric(labels, age)
        yield records
        yield seconds
        yield self._group_gauge("cxr_consumer_lag_unknown_partitions", "Partitions with "
                                "records to process whose oldest one the last check could "
                                "not read (their age is unknown, not 0)",
                                unknown if fresh else None)
        yield self._group_gauge("cxr_consumer_group_members", "Members of the worker group "
                                "(every worker reports the same figure)", self.members)
        yield self._group_gauge("cxr_consumer_lag_checked_timestamp_seconds", "When the lag "
                                "was last measured (Unix time)", self.checked_at)

    def _group_gauge(self, name: str, documentation: str,
                     value: float | None) -> GaugeMetricFamily:
        """A gauge of the whole group; no sample until the first check gave one."""
        family = GaugeMetricFamily(name, documentation, labels=["group"])
        if value is not None:
            family.add_metric([self.group], value)
        return family
