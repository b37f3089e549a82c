"""interaction.v1 keeps its promise to consumers (docs/consumers.md, Schema evolution).

The schema and the mappings are compared with the committed baseline
(schemas/contracts/interaction.v1.baseline.json): a field removed, renamed or retyped, a
required field made optional, an enum or a limit changed, a context field no longer
written for a channel fails; an optional field added passes. The checker is shown to
fail on mutated copies, and to pass the additions v1 allows. The records the mappings
make from the sample payloads and the simulator's traffic, and their redacted fan-out
copies, validate against the schema and keep every baseline field."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
import pytest

from cxone_router.agents.fanout import Fanout
from cxone_router.mapping import Normalizer
from cxone_router.payload import decode
from cxone_router.redaction import DEV_REDACTION_KEY
from cxone_router.routing import load_routes
from cxone_router.samples import demo_samples
from cxone_router.simulate.generators import Traffic
from cxone_router.simulate.profiles import Profile
from tests.unit.v1_contract import (
    BASELINE,
    SCHEMA,
    SCHEMAS,
    added_fields,
    baseline,
    breaking_changes,
    contract_of,
    load_json,
    record_problems,
)

RECEIVED_AT_NS = 1_780_000_000_123_000_000
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dfo-MessageCreated.json"


def schema() -> dict[str, Any]:
    return copy.deepcopy(load_json(SCHEMA))


# ---- the schema and the mappings against the baseline -----------------------------------

def test_the_schema_and_the_mappings_keep_every_promise_of_the_baseline() -> None:
    problems = breaking_changes(baseline(), contract_of(schema()))
    assert not problems, (
        f"these changes break v1 consumers ({BASELINE.name}); revert them, or publish "
        f"interaction.v2 (docs/consumers.md, Schema evolution): {problems}")


def test_every_field_is_in_the_baseline_so_it_is_kept_too() -> None:
    """An optional field added to v1 is allowed, and from then on promised: its entry
    goes into the baseline, or a later change could remove it unseen."""
    added = added_fields(baseline(), contract_of(schema()))
    entries = ",\n".join(f'    "{n}": {orjson.dumps(e).decode()}' for n, e in added.items())
    assert not added, f"add to {BASELINE.relative_to(SCHEMAS.parent)} under fields:\n{entries}"


def test_the_baseline_names_the_schema_it_freezes() -> None:
    document = load_json(BASELINE)
    assert SCHEMAS.parent / document["schema"] == SCHEMA
    assert document["fields"]["schemaVersion"]["const"] == 1


# ---- the checker fails what breaks consumers... -----------------------------------------

def _remove(s: dict[str, Any], name: str) -> None:
    del s["properties"][name]
    s["required"].remove(name)


def _rename(s: dict[str, Any], old: str, new: str) -> None:
    s["properties"][new] = s["properties"].pop(old)
    s["required"] = [new if r == old else r for r in s["required"]]


Mutation = Callable[[dict[str, Any]], None]
BREAKING: dict[str, tuple[Mutation, str]] = {
    "field removed": (lambda s: _remove(s, "contactId"), "contactId: removed"),
    "field renamed": (lambda s: _rename(s, "eventType", "type"),
                      "eventType: removed (renamed to type?)"),
    "nested field renamed": (
        lambda s: s["properties"]["tenant"]["properties"].update(
            buId=s["properties"]["tenant"]["properties"].pop("businessUnitId")),
        "tenant.businessUnitId: removed"),
    "retyped": (lambda s: s["properties"]["tenant"]["properties"]["businessUnitId"].update(
        type=["integer", "null"]), "tenant.businessUnitId: type was"),
    "made nullable": (lambda s: s["properties"]["receivedAt"].update(type=["string", "null"]),
                      "receivedAt: type was"),
    "required made optional": (lambda s: s["required"].remove("occurredAt"),
                               "occurredAt: was required, now not required"),
    "optional made required": (lambda s: s["required"].append("mappingVersion"),
                               "mappingVersion: was not required, now required"),
    "required field added": (lambda s: (s["properties"].update(language={"type": "string"}),
                                        s["required"].append("language")),
                             "language: added as required"),
    "enum narrowed": (lambda s: s["properties"]["direction"]["enum"].remove("outbound"),
                      "direction: enum was"),
    "closed enum widened": (
        lambda s: s["properties"]["customer"]["properties"]["type"]["enum"].append("social"),
        "customer.type: enum was"),
    "limit changed": (lambda s: s["properties"]["interactionId"].update(maxLength=512),
                      "interactionId: maxLength was 256, now 512"),
    "array items retyped": (lambda s: s["properties"]["missingFields"].update(
        items={"type": "object"}), "missingFields: items was"),
    "context values retyped": (lambda s: s["properties"]["context"].update(
        additionalProperties={"type": "string"}), "context.queue: type was"),
    "version bumped in place": (lambda s: s["properties"]["schemaVersion"].update(const=2),
                                "schemaVersion: const was 1, now 2"),
}


@pytest.mark.parametrize("change", BREAKING)
def test_a_schema_change_that_breaks_a_v1_consumer_fails(change: str) -> None:
    mutate, expected = BREAKING[change]
    changed = schema()
    mutate(changed)
    problems = breaking_changes(baseline(), contract_of(changed))
    assert any(p.startswith(expected) for p in problems), problems


def _mappings_copy(folder: Path) -> Path:
    mappings = folder / "mappings"
    shutil.copytree(SCHEMAS / "mappings", mappings)
    return mappings


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = orjson.loads(path.read_bytes())
    change(data)
    path.write_bytes(orjson.dumps(data))


def test_a_mapping_that_stops_writing_a_context_field_fails(tmp_path: Path) -> None:
    mappings = _mappings_copy(tmp_path)
    _edit(mappings / "email.json", lambda m: m["fields"].pop("context.subject"))
    problems = breaking_changes(baseline(), contract_of(schema(), mappings))
    assert problems == ["context.subject: removed"], problems


def test_a_mapping_that_renames_a_context_field_fails(tmp_path: Path) -> None:
    mappings = _mappings_copy(tmp_path)
    _edit(mappings / "voice.json",
          lambda m: m["fields"].update({"context.dialed": m["fields"].pop("context.dialedNumber")}))
    problems = breaking_changes(baseline(), contract_of(schema(), mappings))
    assert problems == ["context.dialedNumber: removed (renamed to context.dialed?)"], problems


def test_a_mapping_that_writes_a_context_field_for_fewer_channels_fails(tmp_path: Path) -> None:
    mappings = _mappings_copy(tmp_path)
    _edit(mappings / "sms.json", lambda m: m["fields"].pop("context.messageText"))
    problems = breaking_changes(baseline(), contract_of(schema(), mappings))
    assert problems == ["context.messageText: no longer written for sms"], problems


# ---- ...and passes what v1 allows -------------------------------------------------------

def test_an_optional_field_added_keeps_v1() -> None:
    changed = schema()
    changed["properties"]["language"] = {"type": ["string", "null"], "description": "x"}
    current = contract_of(changed)
    assert breaking_changes(baseline(), current) == []
    assert set(added_fields(baseline(), current)) == {"language"}


def test_a_context_field_added_or_written_for_one_more_channel_keeps_v1(
        tmp_path: Path) -> None:
    mappings = _mappings_copy(tmp_path)
    _edit(mappings / "voice.json", lambda m: m["fields"].update({
        "context.subject": {"optional": True, "paths": ["$.data.subject"]},
        "context.language": {"optional": True, "paths": ["$.data.language"]}}))
    current = contract_of(schema(), mappings)
    assert breaking_changes(baseline(), current) == []
    assert current["context.subject"]["channels"] == ["email", "voice"]
    assert set(added_fields(baseline(), current)) == {"context.language"}


def test_a_new_channel_keeps_v1_and_descriptions_are_free() -> None:
    changed = schema()
    changed["properties"]["channel"]["enum"].append("video")
    changed["properties"]["eventId"]["description"] = "reworded"
    assert breaking_changes(baseline(), contract_of(changed)) == []


# ---- what the mappings produce ----------------------------------------------------------

@cache
def normalizer() -> Normalizer:
    return Normalizer.from_dir(SCHEMAS)


def payloads() -> Iterator[tuple[dict[str, Any], str]]:
    """(payload, where it came from): the built-in samples, the recorded DFO event, and
    drifted and plain traffic of every channel from the simulator."""
    for s in demo_samples():
        if s.expect in normalizer().channels:
            yield decode(s.body, s.content_type), f"sample {s.label!r}"
    yield orjson.loads(FIXTURE.read_bytes()), FIXTURE.name
    for seed in (1, 2, 3):
        traffic = Traffic(Profile(redeliveries=0.0, drift=0.5, malformed=0.0, simplified=0.5),
                          seed=seed, epoch=1_780_000_000.0)
        for i in range(300):
            event = next(traffic)
            yield decode(event.body, event.content_type), f"traffic seed {seed} event {i}"


@cache
def written() -> list[tuple[dict[str, Any], str]]:
    """Every record a worker writes for the payloads: the channel record, then each
    matching route's copy, redacted as the route says."""
    routes = load_routes(SCHEMAS)
    fanout = Fanout(routes, {r.name: r.name for r in routes}, DEV_REDACTION_KEY.encode())
    records = []
    for payload, where in payloads():
        record = normalizer().normalize(payload, RECEIVED_AT_NS)
        value = orjson.dumps(record)
        records.append((record, f"{where}: channel {record['channel']}"))
        for out in fanout.outputs(record, record["interactionId"].encode(), value, []):
            records.append((orjson.loads(out.value), f"{where}: route {out.topic}"))
    return records


def test_every_record_written_validates_and_keeps_the_baseline() -> None:
    validate = fastjsonschema.compile(load_json(SCHEMA))
    contract = baseline()
    records = written()
    assert len(records) > 1000
    for record, where in records:
        validate(record)
        problems = record_problems(record, contract)
        assert not problems, f"{where}: {problems}"


def test_the_records_carry_every_baseline_field_and_every_route() -> None:
    """Not a field of the baseline that no record shows: each is really written."""
    contract = baseline()
    seen = {name for record, _ in written() for name in contract
            if not record_problems(record, {name: {**contract[name], "required": True}})}
    assert set(contract) - seen == set()
    routes = {where.rsplit("route ", 1)[1] for _, where in written() if "route " in where}
    assert routes == {r.name for r in load_routes(SCHEMAS)}


BROKEN_RECORDS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "field absent": (lambda r: r.pop("contactId"), "contactId: absent"),
    "nested field absent": (lambda r: r["tenant"].pop("tenantId"), "tenant.tenantId: absent"),
    "retyped": (lambda r: r["tenant"].update(businessUnitId=4597607),
                "tenant.businessUnitId: integer"),
    "outside its enum": (lambda r: r.update(direction="internal"), "direction: 'internal'"),
    "another const": (lambda r: r.update(schemaVersion=2), "schemaVersion: 2"),
    "timestamp of another form": (lambda r: r.update(occurredAt="2026-05-28 10:00:00"),
                                  "occurredAt: '2026-05-28 10:00:00' is not of the form"),
    "array item retyped": (lambda r: r.update(missingFields=[1]), "missingFields[0]: integer"),
}


@pytest.mark.parametrize("change", BROKEN_RECORDS)
def test_the_record_checker_finds_a_broken_record(change: str) -> None:
    mutate, expected = BROKEN_RECORDS[change]
    record = copy.deepcopy(written()[0][0])
    assert record_problems(record, baseline()) == []
    mutate(record)
    problems = record_problems(record, baseline())
    assert any(p.startswith(expected) for p in problems), problems


def test_the_record_checker_ignores_fields_it_does_not_know() -> None:
    """As a consumer must: an optional field added within v1 breaks no reader."""
    record = {**copy.deepcopy(written()[0][0]), "language": "en"}
    assert record_problems(record, baseline()) == []
