"""The transform's generated and shortcut code against the code it replaced (issue 15).

Each fast path is compared, on generated inputs, with the original implementation, kept
here as the reference: conditions, a channel's fields, channel detection, the receive
time's text, the form parser and the record schema's fast yes."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import fastjsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxone_router.mapping import Normalizer
from cxone_router.mapping.conditions import _SCALARS, _fold, compile_condition, compile_first
from cxone_router.mapping.paths import compile_path
from cxone_router.mapping.schema_check import compile_check
from cxone_router.mapping.values import ns_to_iso
from cxone_router.payload import parse_form
from cxone_router.settings import REPO_ROOT

SCHEMAS = REPO_ROOT / "schemas"
RECORD_SCHEMA = orjson.loads((SCHEMAS / "interaction.v1.json").read_bytes())


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer.from_dir(SCHEMAS)


# ---- the references: the code before issue 15 -------------------------------------------


def reference_condition(spec: Mapping[str, Any]) -> Callable[[Any], bool]:
    lookup = compile_path(spec["path"])
    if "exists" in spec:
        wanted = bool(spec["exists"])
        return lambda doc: (lookup(doc) is not None) is wanted
    if "matches" in spec:
        pattern = re.compile(spec["matches"], re.IGNORECASE)
        return lambda doc: isinstance(v := lookup(doc), str) and bool(pattern.search(v))
    if "equals" in spec:
        target = _fold(spec["equals"])
        return lambda doc: _fold(lookup(doc)) == target
    allowed = frozenset(_fold(v) for v in spec["in"])
    return lambda doc: isinstance(v := lookup(doc), _SCALARS) and _fold(v) in allowed


def reference_walk(steps: tuple[str | int, ...], doc: Any) -> Any:
    for step in steps:
        if isinstance(step, str):
            if not isinstance(doc, dict):
                return None
            doc = doc.get(step)
        else:
            if not isinstance(doc, list) or not -len(doc) <= step < len(doc):
                return None
            doc = doc[step]
        if doc is None:
            return None
    return doc


def reference_fields(normalizer: Normalizer, channel: str, payload: Any
                     ) -> tuple[dict[str, Any], list[str]]:
    """What `Normalizer.normalize` did per field before the fields were generated."""
    record: dict[str, Any] = {"interactionId": None, "contactId": None, "eventType": None,
                              "direction": None, "occurredAt": None,
                              "customer": {"identifier": None, "type": None}, "context": {},
                              "tenant": {"tenantId": None, "businessUnitId": None}}
    missing: list[str] = []

    def put(name: str, value: Any) -> None:
        parent, _, leaf = name.rpartition(".")
        (record[parent] if parent else record)[leaf] = value

    spec = next(c for c in normalizer._channels if c.channel == channel)
    for f in spec.fields:
        value, sets = f.resolve(payload)
        if value is None:
            if not f.optional:
                missing.append(f.name)
            continue
        put(f.name, value)
        for name, extra in sets:
            put(name, extra)
    return record, missing


def reference_ns_to_iso(ns: int) -> str:
    moment = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- inputs -----------------------------------------------------------------------------

NAMES = st.sampled_from(["data", "case", "customer", "channelType", "direction", "id", "x",
                         "participants", "identities", "0"])
STEPS = st.lists(st.one_of(NAMES, st.integers(min_value=-2, max_value=2)), min_size=0,
                 max_size=4)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
                    st.sampled_from(["", " ", "voice", "VOICE", "inbound", "In", " x ", "true",
                                     "1", "2026-01-01T10:00:00Z", "1767261600", "²"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=4)), max_leaves=14)


def _expression(steps: list[str | int]) -> str:
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)


PATHS = st.one_of(STEPS.map(_expression), st.sampled_from(["$.data.participants[*].id",
                                                           "$..id", "$.data[*]"]))
CONDITIONS = st.one_of(
    st.fixed_dictionaries({"path": PATHS, "exists": st.booleans()}),
    st.fixed_dictionaries({"path": PATHS, "equals": SCALARS}),
    st.fixed_dictionaries({"path": PATHS, "in": st.lists(SCALARS.filter(
        lambda v: v is not None), min_size=1, max_size=3)}),
    st.fixed_dictionaries({"path": PATHS, "matches": st.sampled_from(["^v", "in", "1$"])}),
)


# ---- the comparisons ----------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(spec=CONDITIONS, doc=JSON)
def test_a_generated_condition_is_the_closure_it_replaced(spec: dict[str, Any],
                                                          doc: Any) -> None:
    assert compile_condition(spec, "test")(doc) is reference_condition(spec)(doc)


@settings(max_examples=300, deadline=None)
@given(groups=st.lists(st.lists(CONDITIONS, min_size=1, max_size=3), min_size=1, max_size=4),
       doc=JSON)
def test_the_first_group_that_holds_is_found_as_in_turn(groups: list[list[dict[str, Any]]],
                                                        doc: Any) -> None:
    first = compile_first([(g, i, "test") for i, g in enumerate(groups)])
    expected = next((i for i, g in enumerate(groups)
                     if any(reference_condition(c)(doc) for c in g)), None)
    assert first(doc) == expected


@settings(max_examples=300, deadline=None)
@given(steps=STEPS, doc=JSON)
def test_a_generated_walk_is_the_loop_it_replaced(steps: list[str | int], doc: Any) -> None:
    assert compile_path(_expression(steps))(doc) == reference_walk(tuple(steps), doc)


def _payloads(normalizer: Normalizer) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads holding values at the mappings' own paths (and at their prefixes)."""
    paths = sorted({tuple(getattr(c.lookup, "plain_steps", ()) or ())
                    for spec in normalizer._channels for f in spec.fields
                    for c in f.candidates})
    values = st.one_of(SCALARS, st.just([]), st.just({}), st.just([{"email": "a@b"}]))

    def build(chosen: list[tuple[tuple[str | int, ...], Any]]) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for steps, value in chosen:
            node: Any = doc
            for i, step in enumerate(steps):
                last = i == len(steps) - 1
                if isinstance(step, int):
                    break  # an index: the value a list of it
                if last:
                    node[step] = value
                elif isinstance(steps[i + 1], int):
                    node = node.setdefault(step, [{}]) if isinstance(node, dict) else {}
                    node = node[0] if isinstance(node, list) and node and isinstance(
                        node[0], dict) else {}
                else:
                    child = node.get(step) if isinstance(node, dict) else None
                    if not isinstance(child, dict):
                        child = node[step] = {}
                    node = child
        return doc

    return st.lists(st.tuples(st.sampled_from(paths), values), max_size=12).map(build)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_channels_generated_fields_fill_the_record_as_before(
        normalizer: Normalizer, data: st.DataObject) -> None:
    payload = data.draw(_payloads(normalizer))
    for channel in normalizer.channels:
        record, missing = reference_fields(normalizer, channel, payload)
        got: dict[str, Any] = {"interactionId": None, "contactId": None, "eventType": None,
                               "direction": None, "occurredAt": None,
                               "customer": {"identifier": None, "type": None}, "context": {},
                               "tenant": {"tenantId": None, "businessUnitId": None}}
        got_missing: list[str] = []
        normalizer._fill[channel](payload, got, got_missing)
        assert orjson.dumps(got) == orjson.dumps(record)  # the keys' order too
        assert got_missing == missing


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_detection_finds_the_channel_it_found_in_turn(normalizer: Normalizer,
                                                      data: st.DataObject) -> None:
    payload = data.draw(_payloads(normalizer))
    payload.setdefault("data", {})
    if isinstance(payload["data"], dict):
        payload["data"]["channelType"] = data.draw(st.sampled_from(
            ["voice", "Chat", "sms", "email", "fax", 1, None]))
    assert normalizer.detect(payload) is normalizer._detect_in_turn(payload)


@settings(max_examples=2000, deadline=None)
@given(ns=st.one_of(st.integers(min_value=0, max_value=4_102_444_800 * 10**9 + 10),
                    st.integers(min_value=1_767_261_600, max_value=1_767_261_700).map(
                        lambda s: s * 10**9 + 999_999_500),
                    st.integers(min_value=-10**12, max_value=0)))
def test_the_receive_time_is_the_text_datetime_gave(ns: int) -> None:
    assert ns_to_iso(ns) == reference_ns_to_iso(ns)


@settings(max_examples=1000, deadline=None)
@given(text=st.lists(st.sampled_from([*"ab=&+% é", "%2B", "%C3%A9", "%ff", "%zz"]),
                    max_size=12).map("".join), limit=st.integers(1, 6))
def test_the_form_parser_is_parse_qsl(text: str, limit: int) -> None:
    try:
        expected: Any = parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                                  max_num_fields=limit)
    except ValueError as exc:
        expected = str(exc)
    try:
        got: Any = parse_form(text, limit)
    except ValueError as exc:
        got = str(exc)
    assert got == expected


RECORD_VALUES = st.one_of(SCALARS, st.just([]), st.just({}), st.just(["x"]), st.just([1]),
                          st.text(max_size=3), st.just("x" * 257))


@settings(max_examples=1000, deadline=None)
@given(data=st.data())
def test_the_fast_yes_is_given_only_to_records_the_validator_passes(
        normalizer: Normalizer, data: st.DataObject) -> None:
    record = normalizer.normalize({"data": {"id": "i-1", "channelType": "voice"}}, 1)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(["", "customer", "context", "tenant"]))
        node = record if not where else record.get(where)
        if not isinstance(node, dict):
            continue
        key = data.draw(st.sampled_from([*sorted(node), "extra"]))
        if data.draw(st.booleans()) and key in node:
            del node[key]
        else:
            node[key] = copy.deepcopy(data.draw(RECORD_VALUES))  # st.just() shares its value
    check = compile_check(RECORD_SCHEMA)
    assert check is not None
    if check(record):
        fastjsonschema.compile(RECORD_SCHEMA)(record)  # raises if the yes was wrong


def test_every_record_of_the_samples_gets_the_fast_yes(normalizer: Normalizer) -> None:
    from cxone_router.samples import demo_samples

    check = compile_check(RECORD_SCHEMA)
    assert check is not None
    for sample in demo_samples():
        if sample.expect in ("voice", "chat", "sms", "email"):
            from cxone_router.payload import decode

            record = normalizer.normalize(decode(sample.body, sample.content_type), 1)
            del record["mappingVersion"]
            assert check(record), sample.label


def test_a_schema_with_keywords_the_check_does_not_know_gets_none() -> None:
    assert compile_check({"type": "object", "properties": {"a": {"pattern": "^x"}}}) is None
    assert compile_check({"anyOf": [{"type": "string"}]}) is None
    assert compile_check({"type": "object", "properties": {"a": {"enum": [1, 2]}}}) is None


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_channels_fast_yes_is_given_only_to_records_the_validator_passes(
        normalizer: Normalizer, data: st.DataObject) -> None:
    payload = data.draw(_payloads(normalizer))
    validate = fastjsonschema.compile(RECORD_SCHEMA)
    for channel in normalizer.channels:
        record: dict[str, Any] = {
            "schemaVersion": 1, "eventId": data.draw(st.sampled_from(["e", "", 1])),
            "idempotencyKey": "k", "interactionId": None, "contactId": None,
            "channel": channel, "eventType": None, "direction": None, "occurredAt": None,
            "receivedAt": "2026-01-01T00:00:00.000Z",
            "customer": {"identifier": None, "type": None}, "context": {},
            "tenant": {"tenantId": None, "businessUnitId": None}, "missingFields": []}
        normalizer._fill[channel](payload, record, record["missingFields"])
        if normalizer._valid[channel](record):
            validate(record)


def test_what_a_mapping_can_make_invalid_is_still_checked(tmp_path: Any) -> None:
    """A field of any type, an out-of-enum value map: the validator's own message."""
    import shutil

    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, schemas)
    chat = orjson.loads((schemas / "mappings" / "chat.json").read_bytes())
    chat["fields"]["context.raw"] = {"as": "any", "optional": True, "paths": ["$.data.raw"]}
    chat["fields"]["direction"] = {"values": {"in": "sideways"}, "paths": ["$.data.dir"]}
    (schemas / "mappings" / "chat.json").write_bytes(orjson.dumps(chat))
    normalizer = Normalizer.from_dir(schemas)
    base = {"data": {"id": "i-1", "channelType": "chat"}}
    assert normalizer.normalize({"data": {**base["data"], "raw": 7}}, 1)["context"]["raw"] == 7
    for data, field in (({"raw": [1]}, "context.raw"), ({"dir": "in"}, "direction")):
        with pytest.raises(Exception, match=re.escape(field)) as caught:
            normalizer.normalize({"data": {**base["data"], **data}}, 1)
        record = normalizer._detect_in_turn({"data": {**base["data"], **data}})
        assert record is not None and type(caught.value).__name__ == "SchemaViolation"


REDACTABLE = ["customer.identifier", "contactId", "tenant.tenantId", "context.messageText",
              "context.subject", "context.dialedNumber", "occurredAt", "eventType"]


@settings(max_examples=400, deadline=None)
@given(redact=st.dictionaries(st.sampled_from(REDACTABLE),
                              st.sampled_from(["drop", "hash", "mask"]), min_size=1),
       values=st.dictionaries(st.sampled_from(REDACTABLE), st.one_of(
           st.none(), st.text(max_size=10), st.integers(-2**63, 2**63 - 1), st.booleans(),
           st.floats(allow_nan=False)), max_size=8))
def test_a_generated_redaction_is_the_plans_loop(redact: dict[str, str],
                                                 values: dict[str, Any]) -> None:
    from cxone_router.redaction import RedactionPlan

    record: dict[str, Any] = {"interactionId": "i", "contactId": None, "eventType": None,
                              "occurredAt": None, "customer": {"identifier": None, "type": None},
                              "context": {}, "tenant": {"tenantId": None,
                                                        "businessUnitId": None}}
    for name, value in values.items():
        parent, _, leaf = name.rpartition(".")
        (record[parent] if parent else record)[leaf] = value
    plan = RedactionPlan(sorted(redact.items()), b"k" * 16)
    value = orjson.dumps(record)
    before = orjson.dumps(record)
    assert plan.apply(record, value) == RedactionPlan.apply(plan, record, value)
    assert orjson.dumps(record) == before  # the record itself is never changed


def reference_keys(normalizer: Normalizer, payload: Any) -> tuple[str, str] | None:
    """`Normalizer.keys` before issue 15, up to the payload's hash."""
    import hashlib

    from cxone_router.mapping.values import as_string

    for lookups in normalizer._common.idempotency_key:
        parts = [as_string(lookup(payload)) for lookup in lookups]
        if all(parts):
            key = "|".join(parts)  # type: ignore[arg-type]
            if len(parts) == 1:
                return key, key
            return key, "h-" + hashlib.sha256(key.encode()).hexdigest()[:32]
    return None


@settings(max_examples=400, deadline=None)
@given(doc=st.fixed_dictionaries({}, optional={
    "eventId": SCALARS, "webhookId": SCALARS, "eventType": SCALARS, "timestamp": SCALARS,
    "data": st.one_of(SCALARS, st.fixed_dictionaries({}, optional={"id": SCALARS}))}))
def test_the_generated_keys_are_the_loop_they_replaced(normalizer: Normalizer,
                                                       doc: dict[str, Any]) -> None:
    expected = reference_keys(normalizer, doc)
    keys = normalizer.keys(doc)
    if expected is None:
        assert keys.idempotency_key.startswith("sha256:")
    else:
        assert (keys.idempotency_key, keys.event_id) == expected


def reference_filter(raw: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """A route filter before issue 15: a closure over `compile_all`'s conditions."""
    channels = frozenset(raw.get("channels") or ())
    event_types = frozenset(str(t).lower() for t in raw.get("eventTypes") or ())
    conditions = [reference_condition(c) for c in raw.get("where", [])]

    def matches(record: dict[str, Any]) -> bool:
        if channels and record.get("channel") not in channels:
            return False
        if event_types and str(record.get("eventType") or "").lower() not in event_types:
            return False
        return all(c(record) for c in conditions)

    return matches


@settings(max_examples=400, deadline=None)
@given(raw=st.fixed_dictionaries({}, optional={
    "channels": st.lists(st.sampled_from(["voice", "chat", "sms"]), max_size=2),
    "eventTypes": st.lists(st.sampled_from(["Ended", "created", "x"]), max_size=2),
    "where": st.lists(CONDITIONS, max_size=3)}),
    record=st.fixed_dictionaries({"channel": st.sampled_from(["voice", "chat", "sms"]),
                                  "eventType": st.sampled_from([None, "ended", "CREATED", 1]),
                                  "data": JSON, "x": JSON}))
def test_a_generated_route_filter_is_the_closure_it_replaced(raw: dict[str, Any],
                                                             record: dict[str, Any]) -> None:
    from cxone_router.routing import _compile_filter

    assert _compile_filter(raw, "test")(record) is reference_filter(raw)(record)
