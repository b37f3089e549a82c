"""`cxone-router reprocess` on the running pipeline: a mapping drifted (the SMS mapping
reads the customer's phone number from a path the payload does not have), so the worker's
records miss the field; the mapping is fixed; reprocess writes the events again with the
field, the new mapping version and the `cxr-reprocessed` header, on the channel topic and
on every fan-out topic, redacted per route under the workers' key.

Embedded broker only (the `broker` fixture is parametrized to "embedded" below): it has no
time index, so the range is found by reading the raw topic, the harder case."""

from __future__ import annotations

import hmac
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from cxone_router.kafka.headers import MAPPING_VERSION, REPROCESSED
from cxone_router.mapping.version import mapping_version
from cxone_router.redaction import REDACTED_HEADER
from cxone_router.samples import brief
from cxone_router.settings import REPO_ROOT
from cxone_router.stack import Stack
from tests.integration.harness import post, read, read_all, running

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("broker", ["embedded"], indirect=True),
]

KEY = "integration-reprocess-key-5c1e"
RIGHT = '"$.data.customer.phoneNumber", "set": {"customer.type": "phone"}}'
DRIFTED = '"$.data.customer.phone", "set": {"customer.type": "phone"}}'


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's schemas, with the SMS mapping's first phone path drifted."""
    copy = tmp_path_factory.mktemp("reprocess") / "schemas"
    shutil.copytree(REPO_ROOT / "schemas", copy)
    sms = copy / "mappings" / "sms.json"
    text = sms.read_text()
    assert text.count(RIGHT) == 1
    sms.write_text(text.replace(RIGHT, DRIFTED))
    return copy


@pytest.fixture(scope="module")
def stack(broker: Any, schemas: Path) -> Iterator[Stack]:
    yield from running(broker, CXR_SCHEMAS_DIR=str(schemas), CXR_REDACTION_KEY=KEY)


def reprocess(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cxone_router", "reprocess", *args],
                          env=stack.child_env(), capture_output=True, text=True, timeout=120)


def summary(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)  # type: ignore[no-any-return]


def by_interaction(records: list[Any], topic: str, interaction: str) -> list[Any]:
    return [r for r in records if r.topic == topic and r.key == interaction.encode()]


def value(record: Any) -> dict[str, Any]:
    return orjson.loads(record.value)  # type: ignore[no-any-return]


def headers(record: Any) -> dict[str, bytes]:
    return dict(record.headers)


def hashed(text: str) -> str:
    return hmac.new(KEY.encode(), text.encode(), "sha256").hexdigest()


async def test_a_fixed_mapping_reprocesses_drifted_records(stack: Stack, schemas: Path) -> None:
    t = stack.topics
    outputs = [t.channel("sms"), t.channel("voice"),
               *(t.fanout(r) for r in ("analytics", "crm-sync", "notification"))]
    old_version = mapping_version(schemas / "mappings")
    phone, voice_phone = f"+15557{uuid.uuid4().int % 10**6:06d}", "+15558000111"
    sms_id, voice_id = f"s-{uuid.uuid4().hex[:10]}", f"v-{uuid.uuid4().hex[:10]}"
    text = f"secret text {uuid.uuid4().hex[:6]}"
    await post(stack, brief("interaction.completed", sms_id, "sms",
                            customer={"phoneNumber": phone}, message={"body": text}))
    await post(stack, brief("interaction.completed", voice_id, "voice",
                            customer={"phoneNumber": voice_phone}))

    def written(records: list[Any]) -> bool:  # both events on every topic they go to
        return len(records) == 7
    before = await read(stack, outputs, written)
    assert len(before) == 7, [(r.topic, r.key) for r in before]

    # the worker's record: the drifted field missing, the old mapping version
    (drifted,) = by_interaction(before, t.channel("sms"), sms_id)
    record = value(drifted)
    assert record["customer"] == {"identifier": None, "type": None}
    assert "customer.identifier" in record["missingFields"]
    assert record["mappingVersion"] == old_version
    assert headers(drifted)[MAPPING_VERSION] == old_version.encode()
    assert REPROCESSED not in headers(drifted)

    # the fix
    sms = schemas / "mappings" / "sms.json"
    sms.write_text(sms.read_text().replace(DRIFTED, RIGHT))
    new_version = mapping_version(schemas / "mappings")
    assert new_version != old_version

    # a dry run, for one channel, counts and writes nothing
    dry = summary(reprocess(stack, "--since", "10m", "--channel", "sms", "--dry-run",
                            "--json"))
    assert dry["dryRun"] is True and dry["mappingVersion"] == new_version
    assert dry["inRange"] == 2 and dry["events"] == {"sms": 1} and dry["otherChannel"] == 1
    assert dry["failed"] == {}
    assert dry["records"] == {t.channel("sms"): 1, t.fanout("analytics"): 1,
                              t.fanout("crm-sync"): 1, t.fanout("notification"): 1}
    assert len(await read_all(stack, outputs)) == 7

    # the run: every event of the range, past the dedup table
    run_started = datetime.now(UTC)
    done = summary(reprocess(stack, "--since", "10m", "--json"))
    assert done["events"] == {"sms": 1, "voice": 1} and done["dryRun"] is False
    assert sum(done["records"].values()) == 7

    after = await read(stack, outputs, lambda records: len(records) >= 14)
    assert len(after) == 14, [(r.topic, r.key) for r in after]

    original, again = by_interaction(after, t.channel("sms"), sms_id)
    fixed = value(again)
    assert fixed["idempotencyKey"] == record["idempotencyKey"]  # consumers upsert by it
    assert fixed["customer"] == {"identifier": phone, "type": "phone"}
    assert "customer.identifier" not in fixed["missingFields"]
    assert fixed["mappingVersion"] == new_version
    assert {k: v for k, v in fixed.items() if k not in ("customer", "missingFields",
                                                        "mappingVersion")} == \
        {k: v for k, v in record.items() if k not in ("customer", "missingFields",
                                                     "mappingVersion")}
    marks = headers(again)
    assert marks[MAPPING_VERSION] == new_version.encode()
    stamp = datetime.fromisoformat(marks[REPROCESSED].decode())
    assert run_started - timedelta(seconds=5) <= stamp <= datetime.now(UTC)
    assert marks["cxr-request-id"] == headers(original)["cxr-request-id"]
    assert again.partition == original.partition and again.offset > original.offset

    # fan-out: each route again, redacted as it says, under the workers' key
    for route, identifier in (("analytics", hashed(phone)), ("crm-sync", phone),
                              ("notification", phone)):
        first, second = by_interaction(after, t.fanout(route), sms_id)
        routed = value(second)
        assert routed["customer"]["identifier"] == identifier, route
        assert "messageText" not in routed["context"]
        assert routed["mappingVersion"] == new_version
        assert headers(second)[REPROCESSED] == marks[REPROCESSED]
        assert headers(second)[MAPPING_VERSION] == new_version.encode()
        assert headers(second)[REDACTED_HEADER] == headers(first)[REDACTED_HEADER]
        assert text.encode() not in second.value
        if route == "analytics":
            assert phone.encode() not in second.value

    # the event the drift did not touch comes out as the worker wrote it, hashes included
    for topic in (t.channel("voice"), t.fanout("analytics"), t.fanout("crm-sync")):
        worker, reprocessed = (value(r) for r in by_interaction(after, topic, voice_id))
        assert reprocessed == {**worker, "mappingVersion": new_version}, topic
    assert value(by_interaction(after, t.fanout("analytics"), voice_id)[1])["customer"][
        "identifier"] == hashed(voice_phone)


async def test_an_empty_or_invalid_range_exits_non_zero_in_one_line(stack: Stack) -> None:
    """The other refusals (an empty range by its bounds, an unknown channel) are in
    tests/unit/test_reprocess.py, through the same one-line error."""
    for args, why in ((["--since", "3w", "--until", "2w"], "no raw records on"),
                      (["--since", "soon"], "is not a time")):
        done = reprocess(stack, *args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, done.stderr)
        assert why in lines[0] and done.stdout == "", (args, done.stderr)
