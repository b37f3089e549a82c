"""The operator commands against a running stack: `tail`, `topics describe`, `dlq list`,
`dlq show` and `dlq replay` (dry run, attempts, the replayed-from header, the maximum, a
bodiless dead letter, twice = once downstream, an `unknown_channel` event through after its
mapping is fixed).

One stack for the module, whose CXR_SCHEMAS_DIR is a copy of schemas/ with the SMS
channel's detection broken, so an SMS event is dead-lettered as `unknown_channel`; the last
test restores the mapping and restarts the worker. The commands run in-process (typer's
runner) with the stack's settings; `--follow`'s Ctrl-C and an unknown topic's one-line error
run as the operator would, in a subprocess. Embedded broker only: the commands are Kafka
clients, the suite's other modules cover the brokers' differences.
"""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import NewTopic
from click.testing import Result
from typer.testing import CliRunner

from cxone_router.cli import app
from cxone_router.samples import brief
from cxone_router.settings import REPO_ROOT
from cxone_router.stack import Stack
from tests.integration.harness import make_stack, read, read_all, scrape, wait_caught_up
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.integration,
    # one broker kind: overrides the session fixture's params (embedded, apache)
    pytest.mark.parametrize("broker", ["embedded"], indirect=True),
]

Headers = list[tuple[str, bytes]]


# --- the stack and its helpers -------------------------------------------------------------

@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """schemas/ with SMS detection broken; the fixed file is kept beside it."""
    folder = tmp_path_factory.mktemp("ops") / "schemas"
    shutil.copytree(REPO_ROOT / "schemas", folder)
    sms = folder / "mappings" / "sms.json"
    shutil.copy(sms, folder / "sms.json.fixed")
    spec = orjson.loads(sms.read_bytes())
    spec["detect"] = [{"path": "$.cxrNeverThere", "exists": True}]
    sms.write_bytes(orjson.dumps(spec, option=orjson.OPT_INDENT_2))
    return folder


@pytest.fixture(scope="module")
def stack(broker: Any, schemas: Path) -> Iterator[Stack]:
    running = make_stack(broker, CXR_SCHEMAS_DIR=str(schemas))
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def cli(stack: Stack, *args: str, **env: str) -> Result:
    """`cxone-router ARGS` in-process, with the stack's settings."""
    values = {**stack.env, "CXR_KAFKA_BOOTSTRAP": stack.bootstrap, "COLUMNS": "200", **env}
    return CliRunner().invoke(app, list(args), env=values, catch_exceptions=False)


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]


def produce(stack: Stack, topic: str,
            records: list[tuple[bytes | None, bytes, Headers, int | None]]) -> list[Any]:
    """Each (key, value, headers, partition) on its own (one record a batch)."""
    async def go() -> list[Any]:
        producer = stack.kafka.producer(acks="all")
        await producer.start()
        try:
            return [await producer.send_and_wait(topic, value, key=key, headers=headers,
                                                 partition=partition)
                    for key, value, headers, partition in records]
        finally:
            await producer.stop()
    return asyncio.run(go())


def make_topic(stack: Stack, name: str, partitions: int) -> str:
    async def go() -> None:
        admin = stack.kafka.admin()
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            await admin.close()
    asyncio.run(go())
    return name


def end_offsets(stack: Stack, topic: str) -> dict[int, int]:
    async def go() -> dict[int, int]:
        consumer = stack.kafka.consumer()
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(stack.settings.partitions)]
            return {tp.partition: end for tp, end in (await consumer.end_offsets(tps)).items()}
        finally:
            await consumer.stop()
    return asyncio.run(go())


def raw_headers(request_id: str) -> Headers:
    """What the edge writes on a raw record."""
    return [("content-type", b"application/json"),
            ("cxr-received-ns", str(time.time_ns()).encode()),
            ("cxr-request-id", request_id.encode())]


def dead_letters_of(stack: Stack, keys: set[str], count: int = 1,
                    timeout: float = 60) -> dict[str, list[Any]]:
    """Every dead letter of these keys, once each key has `count` of them."""
    def by_key(records: list[Any]) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        for r in records:
            if r.key is not None and r.key.decode() in keys:
                found.setdefault(r.key.decode(), []).append(r)
        return found

    records = asyncio.run(read(stack, [stack.topics.dlq],
                               lambda rs: all(len(v) >= count for v in by_key(rs).values())
                               and len(by_key(rs)) == len(keys), timeout))
    found = by_key(records)
    assert set(found) == keys and all(len(v) >= count for v in found.values()), found
    return found


@dataclass
class Dead:
    sms_key: str  # an SMS event dead-lettered as unknown_channel
    sms_event_id: str
    sms_request_id: str
    sms_body: bytes
    bad_keys: list[str]  # raw records that are not JSON: invalid_json
    letters: dict[str, Any]  # the dead letter of each key


@pytest.fixture(scope="module")
def dead(stack: Stack) -> Dead:
    tag = uuid.uuid4().hex[:8]
    sms_key, request_id = f"ops-sms-{tag}", f"ops-req-{tag}"
    body = orjson.dumps(brief("interaction.created", sms_key, "sms"))
    answer = httpx.post(f"{stack.edge_url}/webhooks/cxone", content=body, timeout=10,
                        headers={"content-type": "application/json",
                                 "X-Request-Id": request_id})
    assert answer.status_code == 202, answer.text
    bad_keys = [f"ops-bad-{tag}-{i}" for i in range(3)]
    produce(stack, stack.topics.raw, [(k.encode(), b"{not json " + k.encode(),
                                       raw_headers(f"req-{k}"), None) for k in bad_keys])
    found = dead_letters_of(stack, {sms_key, *bad_keys})
    return Dead(sms_key, answer.json()["eventId"], request_id, body, bad_keys,
                {k: v[0] for k, v in found.items()})


# --- tail ----------------------------------------------------------------------------------

def test_tail_prints_records_as_json_lines_with_filters_and_for_people(stack: Stack) -> None:
    topic = make_topic(stack, f"{stack.settings.topic_prefix}.ops.tail", 2)
    started = datetime.now(UTC)
    produce(stack, topic, [(b"k1", b'{"n": 1}', [("h", b"x"), ("bin", b"\xff")], 0),
                           (b"k2", b"plain text", [], 0),
                           (b"k1", b'{"n": 3}', [], 1)])

    result = cli(stack, "tail", topic, "--json")
    assert result.exit_code == 0, result.output
    lines = json_lines(result)
    assert sorted((x["partition"], x["offset"]) for x in lines) == [(0, 0), (0, 1), (1, 0)]
    first = next(x for x in lines if (x["partition"], x["offset"]) == (0, 0))
    stamp = datetime.fromisoformat(first.pop("timestamp"))
    assert abs((stamp - started).total_seconds()) < 60
    assert first == {"topic": topic, "partition": 0, "offset": 0, "key": "k1",
                     "headers": {"h": "x", "bin": "\ufffd"}, "value": {"n": 1}}
    assert next(x for x in lines if x["key"] == "k2")["value"] == "plain text"

    def positions(*args: str) -> list[tuple[int, int]]:
        found = cli(stack, "tail", topic, "--json", *args)
        assert found.exit_code == 0, found.output
        return sorted((x["partition"], x["offset"]) for x in json_lines(found))

    assert positions("--key", "k1") == [(0, 0), (1, 0)]
    assert positions("--partition", "1") == [(1, 0)]
    assert len(positions("--limit", "2")) == 2
    assert positions("--from", "1") == [(0, 1)]
    assert positions("--from", "-1") == [(0, 1), (1, 0)]
    assert positions("--from", "end") == []
    assert positions("--from", "10m") == [(0, 0), (0, 1), (1, 0)]
    assert positions("--from", "2999-01-01T00:00:00Z") == []

    pretty = cli(stack, "tail", topic, "--key", "k2")
    assert pretty.exit_code == 0 and "plain text" in pretty.stdout and "k2" in pretty.stdout
    assert "1 record" in pretty.stderr


def test_tail_follow_prints_new_records_until_ctrl_c_and_an_unknown_topic_is_one_line(
        stack: Stack) -> None:
    topic = make_topic(stack, f"{stack.settings.topic_prefix}.ops.follow", 1)
    env = {**os.environ, **stack.env, "CXR_KAFKA_BOOTSTRAP": stack.bootstrap}
    proc = subprocess.Popen([sys.executable, "-m", "cxone_router", "tail", topic, "--from", "end",
                             "--follow", "--json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    lines: queue.Queue[bytes] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in iter(
        proc.stdout.readline, b"")], daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        # it starts at the end: send until it shows one (it may still be connecting)
        def shows_one() -> bytes | None:
            produce(stack, topic, [(b"f", b'{"followed": true}', [], None)])
            try:
                return lines.get(timeout=1)
            except queue.Empty:
                return None

        line = wait_until(shows_one, "tail --follow prints a record", timeout=30, every=0)
        assert orjson.loads(line)["value"] == {"followed": True}
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=15)
        err = proc.stderr.read().decode()  # type: ignore[union-attr]
        assert code == 0 and "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    unknown = subprocess.run([sys.executable, "-m", "cxone_router", "tail", "vioce"], env=env,
                             capture_output=True, timeout=60)
    err = unknown.stderr.decode()
    assert unknown.returncode == 1 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "'vioce'" in err, err
    assert all(f" {name}," in err for name in ("raw", "voice", "sms", "crm-sync")), err


# --- topics describe -----------------------------------------------------------------------

def test_topics_describe_counts_partitions_records_and_retention(stack: Stack) -> None:
    def described() -> dict[str, dict[str, Any]]:
        result = cli(stack, "topics", "describe", "--json")
        assert result.exit_code == 0, result.output
        return {x["topic"]: x for x in json_lines(result)}

    raw = stack.topics.raw
    # single-record batches: the embedded broker's end offsets are exact after them
    produce(stack, raw, [(b"ops-describe", b"{not json", raw_headers("d0"), 0)])
    before = described()
    produce(stack, raw, [(b"ops-describe", b"{not json", raw_headers(f"d{i}"), 0)
                         for i in (1, 2)])
    after = described()
    assert list(after) == stack.topics.all()
    for info in after.values():
        assert info["exists"] and info["partitions"] == stack.settings.partitions, info
        assert info["retention"] == "broker default" and info["retention_ms"] is None
    assert after[raw]["short_name"] == "raw" and after[stack.topics.dlq]["short_name"] == "dlq"
    assert after[raw]["records"] - before[raw]["records"] == 2
    assert after[raw]["offsets"]["0"]["end"] - before[raw]["offsets"]["0"]["end"] == 2

    table = cli(stack, "topics", "describe")
    assert table.exit_code == 0 and raw in table.stdout and "broker default" in table.stdout
    created = cli(stack, "topics")  # the group's default still creates (here: exists)
    assert created.exit_code == 0 and f"{raw}\texists" in created.stdout


# --- dlq list and show ---------------------------------------------------------------------

def test_dlq_list_groups_by_reason_and_stage_with_filters(stack: Stack, dead: Dead) -> None:
    def listed(*args: str) -> dict[str, Any]:
        result = cli(stack, "dlq", "list", "--json", *args)
        assert result.exit_code == 0, result.output
        return orjson.loads(result.stdout)  # type: ignore[no-any-return]

    everything = listed()
    groups = {(g["reason"], g["stage"]): g for g in everything["groups"]}
    assert groups[("invalid_json", "ingest")]["count"] >= 3
    unknown = groups[("unknown_channel", "ingest")]
    assert unknown["count"] >= 1 and unknown["first_seen"] <= unknown["last_seen"]
    assert everything["total"] == sum(g["count"] for g in everything["groups"])

    mine = listed("--key", dead.sms_key)
    letter = dead.letters[dead.sms_key]
    assert mine["total"] == 1
    [only] = mine["groups"]
    assert (only["reason"], only["stage"], only["count"]) == ("unknown_channel", "ingest", 1)
    assert only["example"] == {"partition": letter.partition, "offset": letter.offset,
                               "request_id": dead.sms_request_id, "key": dead.sms_key,
                               "error": only["example"]["error"]}
    assert {g["reason"] for g in listed("--reason", "invalid_json")["groups"]} == \
        {"invalid_json"}
    assert listed("--key", dead.sms_key, "--since", "1h")["total"] == 1
    assert listed("--until", "2000-01-01")["total"] == 0

    pretty = cli(stack, "dlq", "list")
    assert pretty.exit_code == 0
    assert "unknown_channel" in pretty.stdout and "invalid_json" in pretty.stdout

    tailed = json_lines(cli(stack, "tail", "dlq", "--json", "--key", dead.sms_key))
    assert [x["headers"]["cxr-dlq-reason"] for x in tailed] == ["unknown_channel"]


def test_dlq_show_prints_one_dead_letter_whole(stack: Stack, dead: Dead) -> None:
    letter = dead.letters[dead.sms_key]
    shown = cli(stack, "dlq", "show", f"{letter.partition}:{letter.offset}")
    assert shown.exit_code == 0, shown.output
    assert dead.sms_body.decode() in shown.stdout  # the raw body, unbroken
    for name, value in letter.headers:
        assert name in shown.stdout
        if name != "cxr-dlq-error-message":
            assert value.decode() in shown.stdout
    assert "unknown_channel" in shown.stdout and "original at" in shown.stdout

    by_id = cli(stack, "dlq", "show", dead.sms_request_id, "--json")
    assert by_id.exit_code == 0, by_id.output
    [whole] = json_lines(by_id)
    assert whole["offset"] == letter.offset and whole["key"] == dead.sms_key
    assert whole["headers"]["cxr-dlq-reason"] == "unknown_channel"
    assert whole["value"] == orjson.loads(dead.sms_body)

    missing = cli(stack, "dlq", "show", f"{letter.partition}:99999999")
    assert missing.exit_code == 1 and "no dead letter" in missing.stderr


# --- dlq replay ----------------------------------------------------------------------------

def test_replay_dry_run_then_for_real_raises_the_attempt_up_to_the_maximum(
        stack: Stack, dead: Dead) -> None:
    dlq, raw = stack.topics.dlq, stack.topics.raw
    key = dead.bad_keys[0]
    letter = dead.letters[key]
    here = f"{dlq}:{letter.partition}:{letter.offset}"

    ends = end_offsets(stack, raw)
    dry = cli(stack, "dlq", "replay", "--reason", "invalid_json", "--key", key, "--dry-run",
              "--json")
    assert dry.exit_code == 0, dry.output
    planned = orjson.loads(dry.stdout)
    assert planned["dry_run"] and planned["skipped"] == [] and planned["unmatched"] == []
    assert planned["replayed"] == [{"from": here, "reason": "invalid_json", "attempt": 1,
                                    "key": key, "request_id": f"req-{key}"}]
    assert end_offsets(stack, raw) == ends  # nothing sent

    real = cli(stack, "dlq", "replay", "--offsets", f"{letter.partition}:{letter.offset}",
               "--json")
    assert real.exit_code == 0, real.output
    [sent] = orjson.loads(real.stdout)["replayed"]
    replayed = asyncio.run(read(stack, [raw], lambda rs: any(
        (r.partition, r.offset) == (sent["partition"], sent["offset"]) for r in rs)))
    record = next(r for r in replayed
                  if (r.partition, r.offset) == (sent["partition"], sent["offset"]))
    original = dict(letter.headers)
    headers = dict(record.headers)
    assert record.key == key.encode() and record.value == letter.value
    assert headers == {"content-type": original["content-type"],
                       "cxr-received-ns": original["cxr-received-ns"],
                       "cxr-request-id": original["cxr-request-id"],
                       "cxr-dlq-attempt": b"1", "cxr-replayed-from": here.encode()}

    # still not JSON: dead-lettered again, one attempt more, saying where it came from
    second = dead_letters_of(stack, {key}, count=2)[key][1]
    again = dict(second.headers)
    assert again["cxr-dlq-attempt"] == b"2" and again["cxr-replayed-from"] == here.encode()

    # the first one again: it failed again, the later dead letter is the one to replay
    ends = end_offsets(stack, raw)
    stale = cli(stack, "dlq", "replay", "--offsets", f"{letter.partition}:{letter.offset}",
                "--json")
    assert stale.exit_code == 1
    [skipped] = orjson.loads(stale.stdout)["skipped"]
    assert f"again as {second.partition}:{second.offset}" in skipped["why"]

    # at the maximum: reported, not sent
    refused = cli(stack, "dlq", "replay", "--offsets", f"{second.partition}:{second.offset}",
                  "--json", CXR_DLQ_MAX_ATTEMPTS="2")
    assert refused.exit_code == 1
    report = orjson.loads(refused.stdout)
    assert report["replayed"] == [] and len(report["skipped"]) == 1
    assert "attempt 2" in report["skipped"][0]["why"]
    assert "CXR_DLQ_MAX_ATTEMPTS=2" in report["skipped"][0]["why"]
    assert end_offsets(stack, raw) == ends


def test_a_bodiless_dead_letter_is_reported_with_where_its_original_is(stack: Stack) -> None:
    raw = stack.topics.raw
    headers = [*raw_headers("ops-bodiless"), ("cxr-dlq-reason", b"too_large"),
               ("cxr-dlq-stage", b"deliver"), ("cxr-dlq-source-topic", raw.encode()),
               ("cxr-dlq-source-partition", b"3"), ("cxr-dlq-source-offset", b"77"),
               ("cxr-dlq-failed-at", b"2024-05-01T12:00:00.000Z"), ("cxr-dlq-attempt", b"1"),
               ("cxr-dlq-body-omitted", b"RecordTooLargeError")]
    [meta] = produce(stack, stack.topics.dlq, [(b"ops-bodiless", b"", headers, 0)])
    ends = end_offsets(stack, raw)
    result = cli(stack, "dlq", "replay", "--offsets", f"{meta.partition}:{meta.offset},0:99999999",
                 "--json")
    assert result.exit_code == 1
    report = orjson.loads(result.stdout)
    assert report["replayed"] == [] and report["unmatched"] == ["0:99999999"]
    [skipped] = report["skipped"]
    assert f"{raw}:3:77" in skipped["why"] and "RecordTooLargeError" in skipped["why"]
    assert end_offsets(stack, raw) == ends


def test_unknown_channel_goes_through_once_after_the_fix_however_often_replayed(
        stack: Stack, dead: Dead, schemas: Path) -> None:
    """Last in the module: it changes the mapping and restarts the worker."""
    sms, dlq = stack.topics.channel("sms"), stack.topics.dlq
    shutil.copy(schemas / "sms.json.fixed", schemas / "mappings" / "sms.json")
    stack.stop("worker")
    stack.start_worker()

    first = cli(stack, "dlq", "replay", "--reason", "unknown_channel", "--key", dead.sms_key,
                "--json")
    assert first.exit_code == 0, first.output
    assert len(orjson.loads(first.stdout)["replayed"]) == 1
    asyncio.run(read(stack, [sms], lambda rs: any(r.key == dead.sms_key.encode() for r in rs),
                     timeout=60))
    # the same dead letter again, chosen by the event id the edge answered with
    second = cli(stack, "dlq", "replay", "--ids", dead.sms_event_id, "--json")
    assert second.exit_code == 0, second.output
    assert [x["key"] for x in orjson.loads(second.stdout)["replayed"]] == [dead.sms_key]
    asyncio.run(wait_caught_up(stack))

    records = asyncio.run(read_all(stack, [sms, dlq]))
    on_sms = [r for r in records if r.topic == sms and r.key == dead.sms_key.encode()]
    assert len(on_sms) == 1, on_sms
    assert orjson.loads(on_sms[0].value)["eventId"] == dead.sms_event_id
    assert dict(on_sms[0].headers)["cxr-replayed-from"].startswith(dlq.encode())
    assert len([r for r in records if r.topic == dlq and r.key == dead.sms_key.encode()]) == 1
    # the restarted worker processed only the replay: normalized, but its first arrival is
    # not the pipeline's latency, so the end-to-end histogram did not see it
    page = scrape(stack.worker_metrics["worker"])
    assert page.value("cxr_events_total", channel="sms", outcome="normalized") == 1
    assert page.value("cxr_end_to_end_latency_seconds_count", channel="sms") in (None, 0)
