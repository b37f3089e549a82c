"""schemas/interaction.v1.json documents itself: every property has a description."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from cxone_router.mapping.spec import load_mappings

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
RECORD = orjson.loads((SCHEMAS / "interaction.v1.json").read_bytes())
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMAS = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


def properties(schema: Any, where: str = "$") -> Iterator[tuple[str, Any]]:
    """Every named property of `schema`, nested ones included, as (path, subschema)."""
    if not isinstance(schema, dict):
        return
    for name, sub in schema.get("properties", {}).items():
        yield f"{where}.{name}", sub
        yield from properties(sub, f"{where}.{name}")
    for key in _SUBSCHEMAS:
        yield from properties(schema.get(key), f"{where}/{key}")
    for key in _SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key, [])):
            yield from properties(sub, f"{where}/{key}[{i}]")
    for name, sub in {**schema.get("$defs", {}), **schema.get("patternProperties", {})}.items():
        yield from properties(sub, f"{where}/{name}")


def test_every_property_has_a_description() -> None:
    found = dict(properties(RECORD))
    assert {"$.eventId", "$.customer.identifier", "$.tenant.businessUnitId"} <= set(found)
    undocumented = [path for path, sub in found.items()
                    if not (isinstance(sub, dict) and isinstance(sub.get("description"), str)
                            and sub["description"].strip())]
    assert not undocumented, f"properties without a description: {undocumented}"


def test_the_walker_finds_a_nested_property_without_one() -> None:
    schema = {"properties": {"a": {"description": "x", "properties": {"b": {"type": "string"}}},
                             "c": {"items": {"properties": {"d": {}}}}}}
    missing = [p for p, s in properties(schema) if "description" not in s]
    assert missing == ["$.a.b", "$.c", "$.c/items.d"]


def test_contexts_description_names_every_context_field_the_mappings_write() -> None:
    _, channels = load_mappings(SCHEMAS / "mappings")
    written = {f.name.removeprefix("context.") for c in channels for f in c.fields
               if f.name.startswith("context.")}
    named = set(re.findall(r"\w+", RECORD["properties"]["context"]["description"]))
    assert written - named == set()
