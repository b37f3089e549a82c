"""`cxone-router reprocess`: the time range, and reading it from brokers with and without a
time index (a fake consumer; the real broker is in tests/integration/test_reprocess.py)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndTimestamp
from rich.console import Console

from cxone_router.dlq import Reason
from cxone_router.ops.records import _found
from cxone_router.ops.times import parse_time
from cxone_router.reprocess import ReprocessError, Summary, _run, parse_range, reprocess
from cxone_router.settings import REPO_ROOT, load_settings

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
T0 = int(NOW.timestamp() * 1000)
TOPIC = "x.webhooks.raw"
SCHEMAS = REPO_ROOT / "schemas"


@pytest.mark.parametrize(("text", "expected"), [
    ("10m", NOW - timedelta(minutes=10)),
    ("2h", NOW - timedelta(hours=2)),
    ("90s", NOW - timedelta(seconds=90)),
    ("1d", NOW - timedelta(days=1)),
    ("1w", NOW - timedelta(weeks=1)),
    ("1h30m", NOW - timedelta(minutes=90)),
    ("1.5h", NOW - timedelta(minutes=90)),
    (" 2H ", NOW - timedelta(hours=2)),
    ("2026-03-01T09:00:00Z", datetime(2026, 3, 1, 9, tzinfo=UTC)),
    ("2026-03-01T10:00:00+01:00", datetime(2026, 3, 1, 9, tzinfo=UTC)),
    ("2026-03-01T09:00:00", datetime(2026, 3, 1, 9, tzinfo=UTC)),  # no offset: UTC
    ("2026-03-01T09:00:00.250Z", datetime(2026, 3, 1, 9, 0, 0, 250_000, tzinfo=UTC)),
    ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
])
def test_times_are_iso_8601_or_an_age(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "10", "10 minutes", "-5m", "m10",
                                  "2026-13-01T00:00:00Z", "1y"])
def test_a_bad_time_is_one_line_naming_the_option(text: str) -> None:
    with pytest.raises(ReprocessError, match=r"--since .* is not a time: use an ISO-8601") as e:
        parse_range(text, None, NOW)
    assert "\n" not in str(e.value)


def test_the_range_defaults_to_now_and_stops_there() -> None:
    assert parse_range("10m", None, NOW) == (NOW - timedelta(minutes=10), NOW)
    assert parse_range("2h", "1h", NOW) == (NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    assert parse_range("1h", "2026-03-02T00:00:00Z", NOW)[1] == NOW  # not past the run


@pytest.mark.parametrize(("since", "until", "why"), [
    ("1h", "2h", "the range is empty"),
    ("1h", "1h", "the range is empty"),
    ("2026-03-02T00:00:00Z", None, "not in the past"),
    ("0s", None, "not in the past"),
    ("2h", "bad", "--until 'bad' is not a time"),
])
def test_an_empty_or_future_range_is_refused(since: str, until: str | None, why: str) -> None:
    with pytest.raises(ReprocessError, match=why):
        parse_range(since, until, NOW)


def test_an_unknown_channel_is_refused_before_connecting() -> None:
    settings = load_settings(schemas_dir=SCHEMAS)
    with pytest.raises(ReprocessError, match="--channel 'fax' is not a channel: chat, "):
        asyncio.run(reprocess(settings, "127.0.0.1:1", NOW - timedelta(hours=1), NOW, NOW,
                              channel="fax"))


def test_only_a_real_time_index_answer_is_used() -> None:
    assert _found(OffsetAndTimestamp(5, T0 + 10), T0, 0, 9) == 5
    assert _found(None, T0, 0, 9) is None
    assert _found(OffsetAndTimestamp(0, -1), T0, 0, 9) is None  # the embedded broker's
    assert _found(OffsetAndTimestamp(0, T0 - 5), T0, 0, 9) is None  # before the time
    assert _found(OffsetAndTimestamp(12, T0 + 10), T0, 0, 9) is None  # past the end


# --- reading the range ------------------------------------------------------------------

class FakeConsumer:
    """Partitions of (timestamp) records; a time index like Kafka's, or the embedded
    broker's (offset 0, timestamp -1), and optionally end offsets one batch low."""

    def __init__(self, partitions: dict[int, list[int]], index: bool = True,
                 ends_low_by: int = 0) -> None:
        self.logs = {TopicPartition(TOPIC, p): ts for p, ts in partitions.items()}
        self.index = index
        self.ends_low_by = ends_low_by
        self.positions: dict[TopicPartition, int] = {}
        self.fetched: list[tuple[int, int]] = []
        self._client = self

    async def fetch_all_metadata(self) -> FakeConsumer:
        return self

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {tp.partition for tp in self.logs} if topic == TOPIC else None

    def get_random_node(self) -> int:
        return 0

    async def send(self, node: int, request: Any) -> Any:
        """The metadata answer for a topic that is not there (not one hidden by an ACL)."""
        return SimpleNamespace(topics=[(3, TOPIC)])

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: 0 for tp in tps}

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: max(0, len(self.logs[tp]) - self.ends_low_by) for tp in tps}

    async def offsets_for_times(self, times: dict[TopicPartition, int]) -> dict[Any, Any]:
        found: dict[Any, Any] = {}
        for tp, at in times.items():
            if not self.index:
                found[tp] = OffsetAndTimestamp(0, -1)
                continue
            offset = next((o for o, ts in enumerate(self.logs[tp]) if ts >= at), None)
            found[tp] = None if offset is None else OffsetAndTimestamp(offset,
                                                                       self.logs[tp][offset])
        return found

    def assign(self, tps: list[TopicPartition]) -> None:
        self.positions = {tp: 0 for tp in tps}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def getmany(self, *tps: TopicPartition, timeout_ms: int, max_records: int,
                      ) -> dict[TopicPartition, list[Any]]:
        batch = {}
        for tp in tps:
            start = self.positions[tp]
            records = [SimpleNamespace(topic=TOPIC, partition=tp.partition, offset=o,
                                       timestamp=ts, headers=[], value=b"{}", key=None)
                       for o, ts in enumerate(self.logs[tp][start:start + 2], start)]
            if records:
                self.positions[tp] = records[-1].offset + 1
                self.fetched.extend((tp.partition, r.offset) for r in records)
                batch[tp] = records
        return batch


def run(consumer: FakeConsumer, since_ms: int, until_ms: int,
        handle: Callable[[Any], list[Any]] | None = None) -> tuple[Summary, list[Any]]:
    seen: list[Any] = []

    def keep(record: Any) -> list[Any]:
        seen.append((record.partition, record.offset))
        return handle(record) if handle else []

    summary = Summary(TOPIC, datetime.fromtimestamp(since_ms / 1000, UTC),
                      datetime.fromtimestamp(until_ms / 1000, UTC), "now", "m-x", None,
                      dry_run=True)
    asyncio.run(asyncio.wait_for(_run(consumer, None, TOPIC, summary, keep, None), 10))
    return summary, seen


LOGS = {0: [T0 + i * 1000 for i in range(10)],   # 0 s, 1 s, ... 9 s
        1: [T0 + 500 + i * 2000 for i in range(5)],  # 0.5 s, 2.5 s, ... 8.5 s
        2: []}
IN_RANGE = [(0, 3), (0, 4), (0, 5), (0, 6), (1, 2), (1, 3)]  # [3 s, 7 s)


@pytest.mark.parametrize(("index", "ends_low_by"), [(True, 0), (False, 0), (False, 1),
                                                    (True, 1)])
def test_exactly_the_records_of_the_range_are_handled(index: bool, ends_low_by: int) -> None:
    consumer = FakeConsumer(LOGS, index=index, ends_low_by=ends_low_by)
    summary, seen = run(consumer, T0 + 3000, T0 + 7000)
    assert sorted(seen) == IN_RANGE
    assert summary.in_range == len(IN_RANGE)
    if index and not ends_low_by:  # the time index: nothing before the range is read
        assert min(o for p, o in consumer.fetched if p == 0) == 3


def test_records_up_to_the_end_are_handled_even_when_the_end_reads_low() -> None:
    consumer = FakeConsumer(LOGS, index=False, ends_low_by=1)
    _, seen = run(consumer, T0, T0 + 60_000)
    assert sorted(seen) == [(p, o) for p, ts in LOGS.items() for o in range(len(ts))]


def test_out_of_order_timestamps_are_judged_one_by_one() -> None:
    consumer = FakeConsumer({0: [T0 + 5000, T0 + 1000, T0 + 6000, T0 + 2000]}, index=False)
    _, seen = run(consumer, T0 + 1500, T0 + 5500)
    assert seen == [(0, 0), (0, 3)]


def test_a_missing_topic_is_one_line() -> None:
    consumer = FakeConsumer({})
    with pytest.raises(ReprocessError, match=f"topic {TOPIC} does not exist"):
        run(consumer, T0, T0 + 1000)


def test_a_long_run_shows_a_progress_bar_on_a_terminal() -> None:
    consumer = FakeConsumer({0: [T0 + i for i in range(1200)]})
    screen = io.StringIO()
    summary = Summary(TOPIC, datetime.fromtimestamp(T0 / 1000, UTC),
                      datetime.fromtimestamp((T0 + 60_000) / 1000, UTC), "now", "m-x", None,
                      dry_run=True)
    console = Console(file=screen, force_terminal=True, width=100)
    asyncio.run(_run(consumer, None, TOPIC, summary, lambda r: [], console))
    assert summary.in_range == 1200
    assert "reprocess" in screen.getvalue() and "1200" in screen.getvalue()


def test_the_json_summary_names_failures_by_their_dead_letter_reason() -> None:
    summary = Summary(TOPIC, NOW - timedelta(hours=1), NOW, "now", "m-x", None, dry_run=True)
    summary.fail(Reason.MISSING_FIELD, "partition 0 offset 1", KeyError("interactionId"))
    summary.fail(Reason.MISSING_FIELD, "partition 0 offset 2", KeyError("interactionId"))
    document = orjson.loads(orjson.dumps(summary.to_json()))
    assert document["failed"] == {"missing_field": 2}
    assert document["failedExamples"] == {
        "missing_field": "partition 0 offset 1: KeyError: 'interactionId'"}
