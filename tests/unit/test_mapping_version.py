"""mappingVersion: derived from the mapping files' content, in every record and header."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import fastjsonschema
import orjson
import pytest

from cxone_router.agents.fanout import Fanout
from cxone_router.agents.outputs import EventOutputs
from cxone_router.kafka.headers import CONTENT_TYPE, MAPPING_VERSION
from cxone_router.mapping import Normalizer
from cxone_router.mapping.errors import MappingError
from cxone_router.mapping.version import mapping_version
from cxone_router.redaction import REDACTED_HEADER
from cxone_router.routing import load_routes
from cxone_router.samples import brief

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
VERSION = r"m-[0-9a-f]{12}"


@pytest.fixture
def schemas(tmp_path: Path) -> Path:
    copy = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, copy)
    return copy


def test_the_version_is_short_and_stable_for_identical_content(schemas: Path) -> None:
    version = mapping_version(SCHEMAS / "mappings")
    assert re.fullmatch(VERSION, version)
    assert mapping_version(SCHEMAS / "mappings") == version  # computed again
    assert mapping_version(schemas / "mappings") == version  # another folder, same files
    # re-indented, keys reordered: the same content
    sms = schemas / "mappings" / "sms.json"
    data = orjson.loads(sms.read_bytes())
    sms.write_bytes(orjson.dumps(dict(reversed(list(data.items()))),
                                 option=orjson.OPT_INDENT_2))
    assert mapping_version(schemas / "mappings") == version
    assert Normalizer.from_dir(schemas).mapping_version == version


def test_the_version_changes_when_a_mapping_file_does(schemas: Path) -> None:
    before = mapping_version(schemas / "mappings")
    sms = schemas / "mappings" / "sms.json"
    sms.write_text(sms.read_text().replace("$.data.customer.phoneNumber",
                                           "$.data.customer.phone", 1))
    changed = mapping_version(schemas / "mappings")
    assert changed != before
    sms.write_text(sms.read_text().replace("$.data.customer.phone\"",
                                           "$.data.customer.phoneNumber\"", 1))
    assert mapping_version(schemas / "mappings") == before  # fixed back: the old version
    (schemas / "mappings" / "sms.json").rename(schemas / "mappings" / "text.json")
    assert mapping_version(schemas / "mappings") not in (before, changed)  # a file's name


def test_files_outside_the_mappings_do_not_change_it(schemas: Path) -> None:
    before = Normalizer.from_dir(schemas).mapping_version
    routes = orjson.loads((schemas / "routes.json").read_bytes())
    routes["routes"][0]["redact"] = {}
    (schemas / "routes.json").write_bytes(orjson.dumps(routes))
    (schemas / "mappings" / "notes.txt").write_text("not a mapping")
    assert Normalizer.from_dir(schemas).mapping_version == before


def test_an_unreadable_mapping_file_is_named(schemas: Path) -> None:
    (schemas / "mappings" / "broken.json").write_text("{")
    with pytest.raises(MappingError, match="broken.json"):
        mapping_version(schemas / "mappings")


def test_every_record_and_every_output_carries_the_version() -> None:
    normalizer = Normalizer.from_dir(SCHEMAS)
    routes = load_routes(SCHEMAS)
    fanout = Fanout(routes, {r.name: f"f.{r.name}" for r in routes}, b"k" * 32)
    channels = {c: f"c.{c}" for c in normalizer.channels}
    payload = brief("interaction.completed", "i-1", "sms", message={"body": "hi"})
    raw_headers = {CONTENT_TYPE: b"application/x-www-form-urlencoded",
                   MAPPING_VERSION: b"m-forged", "cxr-request-id": b"r1",
                   "cxr-received-ns": b"1767261600000000000"}
    version = normalizer.mapping_version.encode()

    record, outputs = EventOutputs(normalizer, channels, fanout).build(
        payload, raw_headers, normalizer.keys(payload))
    assert record["mappingVersion"] == normalizer.mapping_version
    assert [o.topic for o in outputs] == ["c.sms", "f.analytics", "f.crm-sync",
                                          "f.notification"]
    for out in outputs:
        headers = dict(out.headers or [])
        assert orjson.loads(out.value)["mappingVersion"] == normalizer.mapping_version
        assert headers[MAPPING_VERSION] == version  # ours last: a dict keeps it
        assert headers[CONTENT_TYPE] == b"application/json"  # the raw one's is replaced
        assert headers["cxr-request-id"] == b"r1"
        assert [k for k, _ in out.headers or []].count(CONTENT_TYPE) == 1
        assert [v for k, v in out.headers or [] if k == MAPPING_VERSION][-1] == version
    assert REDACTED_HEADER in dict(outputs[1].headers or [])

    _, marked = EventOutputs(normalizer, channels, fanout, [("cxr-x", b"1")]).build(
        payload, raw_headers, normalizer.keys(payload))
    assert all(dict(o.headers or [])["cxr-x"] == b"1" for o in marked)
    assert [o.value for o in marked][:1] == [o.value for o in outputs][:1]


def test_the_record_holds_the_precomputed_string_which_the_schema_allows() -> None:
    """Computed once at start-up: per event, normalize only puts the same string in, after
    its schema check (the string is checked once, at start-up)."""
    normalizer = Normalizer.from_dir(SCHEMAS)
    payload = brief("interaction.created", "i-2", "voice")
    record = normalizer.normalize(payload, time.time_ns())
    assert record["mappingVersion"] is normalizer.mapping_version  # the same object
    schema = orjson.loads((SCHEMAS / "interaction.v1.json").read_bytes())
    fastjsonschema.compile(schema)(record)  # what consumers validate: the whole record
    assert "mappingVersion" not in schema["required"]  # records from before lack it
    del record["mappingVersion"]
    fastjsonschema.compile(schema)(record)


def test_a_record_schema_without_the_field_stops_start_up(schemas: Path) -> None:
    path = schemas / "interaction.v1.json"
    schema = orjson.loads(path.read_bytes())
    del schema["properties"]["mappingVersion"]
    path.write_bytes(orjson.dumps(schema))
    with pytest.raises(MappingError, match="does not allow mappingVersion"):
        Normalizer.from_dir(schemas)
