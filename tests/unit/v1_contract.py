"""The v1 contract a consumer relies on, as a flat table: field -> what it promises.

`contract_of` reads it off `schemas/interaction.v1.json` and the mappings (the `context.*`
fields, which the schema leaves open, and the channels that write each);
`breaking_changes` compares a contract with the committed baseline
(`schemas/contracts/interaction.v1.baseline.json`) by the rules of docs/consumers.md
(Schema evolution); `record_problems` checks one record the pipeline wrote against it.

An entry: `required` (every record has the field), `type` (the JSON types its value may
have), and where they apply `const`, `enum`, `minLength`, `maxLength`, `items` (the
types of an array's items), `channels` (the mappings that write a `context.*` field) and
`pattern` (the form of the value, checked on records only: the schema leaves it to the
description)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from cxone_router.mapping.spec import load_mappings

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
SCHEMA = SCHEMAS / "interaction.v1.json"
BASELINE = SCHEMAS / "contracts" / "interaction.v1.baseline.json"
CONTEXT = "context"
# Enums that may gain values within v1: a new mapping file is a new channel (and topic)
OPEN_ENUMS = frozenset({"channel"})
# Compared as they are; `pattern` is the baseline's alone (records are checked against it)
CONSTRAINTS = ("type", "const", "enum", "minLength", "maxLength", "items")
_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (type(None), "null"), (dict, "object"), (list, "array"))

Entry = dict[str, Any]
Contract = dict[str, Entry]


def load_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def baseline() -> Contract:
    fields: Contract = load_json(BASELINE)["fields"]
    return fields


def _types(schema: dict[str, Any]) -> list[str]:
    """The JSON types a subschema allows, sorted: its `type`, else those of its values."""
    if "type" in schema:
        kinds = schema["type"]
        return sorted(kinds if isinstance(kinds, list) else [kinds])
    values = schema.get("enum", [schema["const"]] if "const" in schema else [])
    return sorted({json_type(v) for v in values})


def json_type(value: Any) -> str:
    for python, name in _JSON_TYPES:
        if type(value) is python:
            return name
    raise TypeError(f"not a JSON value: {value!r}")


def _entry(schema: dict[str, Any], required: bool) -> Entry:
    entry: Entry = {"required": required, "type": _types(schema)}
    for key in ("const", "minLength", "maxLength"):
        if key in schema:
            entry[key] = schema[key]
    if "enum" in schema:
        entry["enum"] = sorted(schema["enum"], key=lambda v: (v is None, str(v)))
    if isinstance(schema.get("items"), dict):
        entry["items"] = _types(schema["items"])
    return entry


def contract_of(schema: dict[str, Any], mappings_dir: Path = SCHEMAS / "mappings") -> Contract:
    """Every field of the record, nested ones dotted (`customer.identifier`), and every
    `context.*` field a mapping writes, typed by the schema's open `context`."""
    contract: Contract = {}

    def walk(node: dict[str, Any], prefix: str, parent_required: bool) -> None:
        required = set(node.get("required", []))
        for name, sub in node.get("properties", {}).items():
            dotted = prefix + name
            contract[dotted] = _entry(sub, parent_required and name in required)
            walk(sub, dotted + ".", parent_required and name in required)

    walk(schema, "", True)
    context_values = schema["properties"][CONTEXT]["additionalProperties"]
    _, channels = load_mappings(mappings_dir)
    writers: dict[str, list[str]] = {}
    for channel in channels:
        for f in channel.fields:
            if f.name.startswith(CONTEXT + "."):
                writers.setdefault(f.name, []).append(channel.channel)
    for name, by in writers.items():
        contract[name] = {**_entry(context_values, False), "channels": sorted(by)}
    return contract


def breaking_changes(old: Contract, new: Contract) -> list[str]:
    """What a consumer of `old` would trip on in records of `new`: a field removed or
    renamed, retyped, required no more (or newly required: records already on the topics
    lack it), a constraint changed, an enum changed (but `OPEN_ENUMS` gaining values), a
    `context.*` field no longer written for a channel. Adding an optional field is none."""
    problems = []
    added = {n: e for n, e in new.items() if n not in old}
    for name, was in old.items():
        now = new.get(name)
        if now is None:
            twin = [n for n, e in added.items() if _same(e, was)]
            hint = f" (renamed to {twin[0]}?)" if twin else ""
            problems.append(f"{name}: removed{hint}")
            continue
        if was["required"] != now["required"]:
            problems.append(f"{name}: was {'' if was['required'] else 'not '}required, "
                            f"now {'' if now['required'] else 'not '}required")
        for key in CONSTRAINTS:
            before, after = was.get(key), now.get(key)
            if before == after:
                continue
            if key == "enum" and name in OPEN_ENUMS and before is not None and \
                    after is not None and set(map(str, before)) <= set(map(str, after)):
                continue
            problems.append(f"{name}: {key} was {before!r}, now {after!r}")
        lost = set(was.get("channels", [])) - set(now.get("channels", []))
        if lost:
            problems.append(f"{name}: no longer written for {', '.join(sorted(lost))}")
    for name, entry in added.items():
        if entry["required"]:
            problems.append(f"{name}: added as required (records already written lack it)")
    return problems


def _same(a: Entry, b: Entry) -> bool:
    return all(a.get(k) == b.get(k) for k in ("required", *CONSTRAINTS))


def added_fields(old: Contract, new: Contract) -> Contract:
    return {n: e for n, e in new.items() if n not in old}


def record_problems(record: dict[str, Any], contract: Contract) -> list[str]:
    """Where `record` breaks the contract: a required field absent, a value of another
    type, outside its enum or const, or not of its pattern; an array item of another
    type. Fields the contract does not know are ignored, as a consumer must."""
    problems = []
    for name, entry in contract.items():
        found, value = _lookup(record, name)
        if not found:
            if entry["required"]:
                problems.append(f"{name}: absent")
            continue
        kind = json_type(value)
        if kind not in entry["type"] and not (kind == "integer" and "number" in entry["type"]):
            problems.append(f"{name}: {kind} {value!r}, not {entry['type']}")
            continue
        if "const" in entry and value != entry["const"]:
            problems.append(f"{name}: {value!r}, not {entry['const']!r}")
        if "enum" in entry and name not in OPEN_ENUMS and value not in entry["enum"]:
            problems.append(f"{name}: {value!r} not in {entry['enum']}")
        if "pattern" in entry and isinstance(value, str) and \
                not re.fullmatch(entry["pattern"], value):
            problems.append(f"{name}: {value!r} is not of the form {entry['pattern']}")
        if "items" in entry and isinstance(value, list):
            problems += [f"{name}[{i}]: {json_type(v)} {v!r}, not {entry['items']}"
                         for i, v in enumerate(value) if json_type(v) not in entry["items"]]
    return problems


def _lookup(record: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = record
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node
