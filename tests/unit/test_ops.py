"""The operator commands' pure parts: --from values, topic names, DLQ selectors, grouping,
replay planning, JSON rendering, retention; and the CLI's shape (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from cxone_router.kafka.topics import Topics
from cxone_router.ops.describe import Retention, TopicInfo, duration, retentions
from cxone_router.ops.dlq import (
    DeadLetter,
    Selector,
    SelectorError,
    group,
    parse_list,
    parse_position,
    parse_positions,
    parse_reasons,
    plan,
    replay_headers,
)
from cxone_router.ops.names import resolve, short_names, unknown_topic
from cxone_router.ops.records import Query, Record, Start, StartFormatError, parse_start
from cxone_router.ops.render import to_json
from cxone_router.ops.replay import SINCE_MARGIN, query_for
from cxone_router.ops.times import TimeFormatError, iso, parse_time, to_ms

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TOPICS = Topics("cxone", ("voice", "chat", "sms", "email"),
                ("analytics", "crm-sync", "notification"))


# --- --from and times ----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "start"), [
    ("beginning", Start("beginning")),
    ("earliest", Start("beginning")),
    ("END", Start("end")),
    ("latest", Start("end")),
    ("42", Start("offset", 42)),
    ("0", Start("offset", 0)),
    ("-10", Start("offset", -10)),
    ("10m", Start("time", to_ms(NOW - timedelta(minutes=10)))),
    ("2h", Start("time", to_ms(NOW - timedelta(hours=2)))),
    ("1.5d", Start("time", to_ms(NOW - timedelta(hours=36)))),
    ("30s", Start("time", to_ms(NOW - timedelta(seconds=30)))),
    ("2024-04-30T10:00:00Z", Start("time", to_ms(datetime(2024, 4, 30, 10, tzinfo=UTC)))),
    ("2024-04-30T12:00:00+02:00", Start("time", to_ms(datetime(2024, 4, 30, 10, tzinfo=UTC)))),
    ("2024-04-30T10:00:00", Start("time", to_ms(datetime(2024, 4, 30, 10, tzinfo=UTC)))),
    ("2024-04-30", Start("time", to_ms(datetime(2024, 4, 30, tzinfo=UTC)))),
])
def test_from_values(text: str, start: Start) -> None:
    assert parse_start(text, NOW) == start


@pytest.mark.parametrize("text", ["yesterday", "10x", "", "1:2", "2024-13-01"])
def test_a_bad_from_value_names_the_forms(text: str) -> None:
    with pytest.raises(StartFormatError, match="beginning, end, an offset"):
        parse_start(text, NOW)


def test_times_without_an_offset_are_utc_and_bad_ones_say_the_forms() -> None:
    assert parse_time("2024-05-01 12:00", NOW) == NOW
    assert parse_time("1w", NOW) == NOW - timedelta(days=7)
    with pytest.raises(TimeFormatError, match="ISO-8601"):
        parse_time("last tuesday", NOW)
    assert iso(to_ms(NOW)) == "2024-05-01T12:00:00.000Z"
    assert iso(-1) is None


def test_a_time_start_skips_earlier_records_a_broker_without_an_index_returns() -> None:
    query = Query(Start("time", 1000), key=b"k")
    assert query.keeps(_record(timestamp_ms=1000, key=b"k"))
    assert not query.keeps(_record(timestamp_ms=999, key=b"k"))
    assert not query.keeps(_record(timestamp_ms=2000, key=b"other"))
    assert Query().keeps(_record(timestamp_ms=-1))


# --- topic names ---------------------------------------------------------------------------

def test_short_names_resolve_with_the_prefix() -> None:
    assert resolve("raw", TOPICS) == "cxone.webhooks.raw"
    assert resolve("dlq", TOPICS) == "cxone.webhooks.dlq"
    assert resolve("sms", TOPICS) == "cxone.interactions.sms"
    assert resolve("crm-sync", TOPICS) == "cxone.fanout.crm-sync"
    assert resolve("cxone.fanout.analytics", TOPICS) == "cxone.fanout.analytics"
    assert resolve("raw", Topics("acme", (), ())) == "acme.webhooks.raw"
    assert list(short_names(TOPICS)) == ["raw", "voice", "chat", "sms", "email", "analytics",
                                         "crm-sync", "notification", "dlq"]


def test_an_unknown_topic_is_named_with_the_short_names() -> None:
    message = str(unknown_topic("vioce", TOPICS, "k:9092"))
    assert "'vioce'" in message and "k:9092" in message
    assert "raw, voice, chat, sms, email, analytics, crm-sync, notification, dlq" in message
    assert "\n" not in message


# --- dead letters --------------------------------------------------------------------------

def _record(partition: int = 0, offset: int = 0, timestamp_ms: int = 0, key: bytes | None = b"k",
            value: bytes | None = b"{}", headers: dict[str, str] | None = None) -> Record:
    return Record("cxone.webhooks.dlq", partition, offset, timestamp_ms, key, value,
                  tuple((k, v.encode()) for k, v in (headers or {}).items()))


def _letter(reason: str = "unknown_channel", stage: str = "ingest", attempt: int = 1,
            failed_at: str = "2024-05-01T12:00:00.000Z", partition: int = 0, offset: int = 0,
            key: bytes = b"k", request_id: str = "r1", value: bytes = b"{\"a\":1}",
            **extra: str) -> DeadLetter:
    headers = {"content-type": "application/json", "cxr-received-ns": "1714564800000000000",
               "cxr-request-id": request_id, "cxr-dlq-reason": reason, "cxr-dlq-stage": stage,
               "cxr-dlq-error-class": "UnknownChannel", "cxr-dlq-error-message": "no channel",
               "cxr-dlq-source-topic": "cxone.webhooks.raw",
               "cxr-dlq-source-partition": str(partition), "cxr-dlq-source-offset": "40",
               "cxr-dlq-failed-at": failed_at, "cxr-dlq-attempt": str(attempt), **extra}
    return DeadLetter(_record(partition, offset, 0, key, value, headers))


def test_selector_values_parse_and_bad_ones_say_why() -> None:
    assert parse_positions(["0:12,3:4", " 1 : 2 "]) == {(0, 12), (3, 4), (1, 2)}
    assert parse_position("2:17") == (2, 17)
    assert parse_position("abc123") is None
    assert parse_list(["a,b", "c", " ,"]) == {"a", "b", "c"}
    assert parse_reasons(["invalid_json,unknown_channel"]) == {"invalid_json", "unknown_channel"}
    with pytest.raises(SelectorError, match="PARTITION:OFFSET"):
        parse_positions(["3-4"])
    with pytest.raises(SelectorError, match="choose from invalid_json"):
        parse_reasons(["unknwon_channel"])


def test_selectors_combine_and_ids_match_request_or_event_ids() -> None:
    letter = _letter(partition=2, offset=7, key=b"i-1", request_id="req-1")
    assert Selector().everything and Selector().matches(letter)
    assert Selector(reasons=frozenset({"unknown_channel", "invalid_json"})).matches(letter)
    assert not Selector(reasons=frozenset({"invalid_json"})).matches(letter)
    assert Selector(key=b"i-1", positions=frozenset({(2, 7)})).matches(letter)
    assert not Selector(key=b"i-1", positions=frozenset({(2, 8)})).matches(letter)
    assert Selector(since=NOW, until=NOW + timedelta(seconds=1)).matches(letter)
    assert not Selector(since=NOW + timedelta(seconds=1)).matches(letter)
    assert not Selector(until=NOW).matches(letter)  # until is exclusive
    assert Selector(ids=frozenset({"req-1"})).matches(letter)
    assert not Selector(ids=frozenset({"evt-1"})).matches(letter)
    assert Selector(ids=frozenset({"evt-1"})).matches(letter, lambda d: "evt-1")


def test_a_letter_without_failed_at_is_timed_by_its_record() -> None:
    letter = DeadLetter(_record(timestamp_ms=to_ms(NOW), headers={"cxr-dlq-reason": "x"}))
    assert letter.failed_at == NOW and letter.attempt == 0 and letter.stage == "unknown"


def test_grouping_counts_first_and_last_seen_and_keeps_the_latest_as_example() -> None:
    letters = [
        _letter("unknown_channel", failed_at="2024-05-01T12:00:05.000Z", offset=1),
        _letter("invalid_json", failed_at="2024-05-01T11:00:00.000Z", offset=2),
        _letter("unknown_channel", failed_at="2024-05-01T12:00:09.000Z", offset=3,
                request_id="latest"),
        _letter("unknown_channel", failed_at="2024-05-01T12:00:01.000Z", offset=4),
        _letter("too_large", stage="deliver", failed_at="2024-05-01T10:00:00.000Z", offset=5),
    ]
    groups = group(letters)
    assert [(g.reason, g.stage, g.count) for g in groups] == [
        ("unknown_channel", "ingest", 3), ("invalid_json", "ingest", 1),
        ("too_large", "deliver", 1)]
    first = groups[0].to_json()
    assert first["first_seen"] == "2024-05-01T12:00:01.000Z"
    assert first["last_seen"] == "2024-05-01T12:00:09.000Z"
    assert first["example"]["offset"] == 3 and first["example"]["request_id"] == "latest"
    assert group([]) == []


def test_replay_keeps_the_request_headers_carries_the_attempt_and_says_where_from() -> None:
    letter = _letter(attempt=2, partition=1, offset=9,
                     **{"cxr-replayed-from": "cxone.webhooks.dlq:1:3"})
    headers = replay_headers(letter)
    names = [k for k, _ in headers]
    assert names == ["content-type", "cxr-received-ns", "cxr-request-id", "cxr-dlq-attempt",
                     "cxr-replayed-from"]
    values = dict(headers)
    assert values["cxr-dlq-attempt"] == b"2"
    assert values["cxr-replayed-from"] == b"cxone.webhooks.dlq:1:9"
    assert values["cxr-request-id"] == b"r1"


def test_plan_leaves_bodiless_and_exhausted_dead_letters_with_the_reason() -> None:
    ok = _letter(attempt=4, offset=1)
    exhausted = _letter(attempt=5, offset=2)
    bodiless = _letter(offset=3, value=b"", **{"cxr-dlq-body-omitted": "RecordTooLargeError"})
    replays, skips = plan([ok, exhausted, bodiless], max_attempts=5)
    assert [r.letter for r in replays] == [ok]
    assert replays[0].key == b"k" and replays[0].value == b"{\"a\":1}"
    why = {s.letter.record.offset: s.why for s in skips}
    assert "attempt 5" in why[2] and "CXR_DLQ_MAX_ATTEMPTS=5" in why[2]
    assert "cxone.webhooks.raw:0:40" in why[3] and "RecordTooLargeError" in why[3]


def test_plan_leaves_a_dead_letter_whose_replay_failed_again_for_the_later_one() -> None:
    first = _letter(attempt=1, offset=1)
    again = _letter(attempt=2, offset=8, **{"cxr-replayed-from": first.here})
    replays, skips = plan([first, again], max_attempts=5, superseded={first.here: again})
    assert [r.letter for r in replays] == [again]
    assert [s.letter for s in skips] == [first]
    assert "dead-lettered again as 0:8 (attempt 2)" in skips[0].why


def test_the_dlq_is_read_only_where_a_selector_can_match() -> None:
    query = query_for(Selector(since=NOW, key=b"k", positions=frozenset({(3, 1), (1, 2)})))
    assert query.start == Start("time", to_ms(NOW - SINCE_MARGIN))
    assert query.partitions == (1, 3) and query.key == b"k"
    assert query_for(Selector()) == Query()


# --- rendering and describe ----------------------------------------------------------------

def test_json_form_of_a_record() -> None:
    record = Record("t", 1, 5, to_ms(NOW), b"k\xff", b"not json",
                    (("a", b"1"), ("b", b"\xff"), ("a", b"2")))
    assert to_json(record) == {
        "topic": "t", "partition": 1, "offset": 5, "timestamp": "2024-05-01T12:00:00.000Z",
        "key": "k\ufffd", "headers": {"a": ["1", "2"], "b": "\ufffd"}, "value": "not json"}
    assert to_json(Record("t", 0, 0, -1, None, b'{"x": [1]}'))["value"] == {"x": [1]}
    assert to_json(Record("t", 0, 0, -1, None, None))["timestamp"] is None


def test_retention_from_describe_configs_and_its_words() -> None:
    responses = [{"resources": [
        {"error_code": 0, "resource_name": "a", "config_entries": [
            {"config_names": "retention.ms", "config_value": "604800000", "config_source": 1}]},
        {"error_code": 0, "resource_name": "b", "config_entries": [
            {"config_names": "retention.ms", "config_value": "-1", "config_source": 5}]},
        {"error_code": 0, "resource_name": "c", "config_entries": [
            {"config_names": "max.message.bytes", "config_value": "1", "config_source": 1}]},
        {"error_code": 3, "resource_name": "d", "config_entries": []},
    ]}]
    found = retentions(responses)
    assert found == {"a": Retention(604800000, False), "b": Retention(-1, True)}
    assert found["a"].describe() == "7d (604800000 ms)"
    assert found["b"].describe() == "forever, broker default"
    assert Retention(None, True).describe() == "broker default"
    assert [duration(ms) for ms in (5_400_000, 1500, 12, 90_061_000)] == [
        "1h30m", "1.5s", "12ms", "1d1h1m1s"]
    info = TopicInfo("t", "raw", True, {0: (2, 10), 1: (0, 3)}).to_json()
    assert info["partitions"] == 2 and info["records"] == 11
    assert info["retention"] == "broker default" and info["retention_ms"] is None


# --- the command line ----------------------------------------------------------------------

def test_version_and_the_commands_are_there() -> None:
    from importlib.metadata import version

    from cxone_router.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"cxone-router {version('cxone-router')}"
    for args, words in ((["topics", "--help"], ["describe", "Create"]),
                        (["dlq", "--help"], ["list", "show", "replay"]),
                        (["tail", "--help"], ["--from", "--follow", "--json"])):
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert all(w in result.stdout for w in words), result.stdout


def test_usage_errors_name_the_option() -> None:
    from cxone_router.cli import app

    runner = CliRunner()
    env = {"CXR_KAFKA_BOOTSTRAP": "127.0.0.1:1", "COLUMNS": "200"}
    for args, option in ((["tail", "raw", "--from", "yesterday"], "--from"),
                         (["dlq", "list", "--since", "soon"], "--since"),
                         (["dlq", "replay", "--reason", "nope"], "--reason"),
                         (["dlq", "replay", "--offsets", "1-2"], "--offsets"),
                         (["dlq", "replay"], "--all")):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 2, (args, result.output)
        assert option in result.output, result.output



def test_raw_dlq_and_full_names_need_no_mappings() -> None:
    from cxone_router.ops.names import resolve_lazily

    def never() -> Topics:
        raise AssertionError("mappings compiled")

    assert resolve_lazily("raw", "acme", never) == "acme.webhooks.raw"
    assert resolve_lazily("dlq", "acme", never) == "acme.webhooks.dlq"
    assert resolve_lazily("acme.interactions.sms", "acme", never) == "acme.interactions.sms"
    assert resolve_lazily("sms", "cxone", lambda: TOPICS) == "cxone.interactions.sms"


# --- reading, against a fake consumer ------------------------------------------------------

class FakeConsumer:
    """Partitions of records; fetches return whole 'batches' of `batch` records, and the
    end offset is reported as the embedded broker does: the last batch's base + 1."""

    def __init__(self, topic: str, partitions: dict[int, list[tuple[int, bytes]]],
                 batch: int = 1) -> None:
        self.topic, self.data, self.batch = topic, partitions, batch
        self.positions: dict[int, int] = {}
        self._client = self

    async def fetch_all_metadata(self) -> FakeConsumer:
        return self

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return set(self.data) if topic == self.topic else None

    def assign(self, tps: list[Any]) -> None:
        self.assigned = tps

    async def beginning_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return {tp: 0 for tp in tps}

    async def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        def end(n: int) -> int:
            return 0 if n == 0 else (n - 1) // self.batch * self.batch + 1
        return {tp: end(len(self.data[tp.partition])) for tp in tps}

    async def offsets_for_times(self, wanted: dict[Any, int]) -> dict[Any, Any]:
        from types import SimpleNamespace

        # as the embedded broker answers: no time index, offset 0
        return {tp: SimpleNamespace(offset=0, timestamp=-1) for tp in wanted}

    def seek(self, tp: Any, offset: int) -> None:
        self.positions[tp.partition] = offset

    async def position(self, tp: Any) -> int:
        return self.positions[tp.partition]

    async def getmany(self, *tps: Any, timeout_ms: int, max_records: int,
                      ) -> dict[Any, list[Any]]:
        from types import SimpleNamespace

        out = {}
        for tp in tps:
            at = self.positions[tp.partition]
            rows = self.data[tp.partition]
            if at >= len(rows):
                continue
            base = at // self.batch * self.batch
            got = [SimpleNamespace(topic=self.topic, partition=tp.partition, offset=o,
                                   timestamp=rows[o][0], key=rows[o][1], value=b"{}",
                                   headers=())
                   for o in range(max(base, at), min(base + self.batch, len(rows)))]
            self.positions[tp.partition] = got[-1].offset + 1
            out[tp] = got
        return out


def _read(consumer: FakeConsumer, query: Query) -> list[tuple[int, int]]:
    import asyncio

    from cxone_router.ops.records import read

    async def go() -> list[tuple[int, int]]:
        return [(r.partition, r.offset) async for r in read(consumer, "t", query, poll_ms=1)]
    return asyncio.run(go())


def test_reading_to_the_end_with_filters_limits_and_the_last_n() -> None:
    rows = {0: [(1000 + i, b"a" if i % 2 else b"b") for i in range(7)], 1: [],
            2: [(5000, b"a")]}
    for batch in (1, 3):  # exact end offsets, and ones reported a batch low
        consumer = FakeConsumer("t", rows, batch)
        assert len(_read(consumer, Query())) == 8
        assert sorted(_read(consumer, Query(key=b"a"))) == [(0, 1), (0, 3), (0, 5), (2, 0)]
        assert _read(consumer, Query(Start("offset", -2))) == [(0, 5), (0, 6), (2, 0)]
        assert _read(consumer, Query(Start("offset", -2), key=b"b")) == [(0, 6)]
        assert _read(consumer, Query(Start("offset", -1), limit=1)) == [(0, 6)]
        assert sorted(_read(consumer, Query(Start("time", 1005)))) == [(0, 5), (0, 6), (2, 0)]
        assert len(_read(consumer, Query(limit=3))) == 3
        assert _read(consumer, Query(partitions=(2,))) == [(2, 0)]
    with pytest.raises(Exception, match="no partition 9"):
        _read(FakeConsumer("t", rows), Query(partitions=(9,)))
