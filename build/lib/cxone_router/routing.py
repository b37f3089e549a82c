"""Fan-out routes, read from `schemas/routes.json`: which consumer topics get a record, and
which of its fields each must not see (`redact`, see pipeline/redaction.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cxone_router.mapping.codegen import define
from cxone_router.mapping.conditions import expressions, new_source
from cxone_router.mapping.errors import MappingError
from cxone_router.redaction import parse_redact, redactable_fields

Filter = Callable[[dict[str, Any]], bool]
ROUTES_FILE = "routes.json"


@dataclass(frozen=True)
class Route:
    name: str
    filters: tuple[Filter, ...]  # empty = every record
    redact: tuple[tuple[str, str], ...] = ()  # (field, action), sorted; empty = the record whole

    def matches(self, record: dict[str, Any]) -> bool:
        filters = self.filters
        if not filters:
            return True
        for f in filters:  # noqa: SIM110 - any(), without a generator per record
            if f(record):
                return True
        return False


def _compile_filter(raw: Any, where: str) -> Filter:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: a filter is an object, got {raw!r}")
    unknown = set(raw) - {"channels", "eventTypes", "where"}
    if unknown:
        raise MappingError(f"{where}: unknown keys {sorted(unknown)}")
    channels = frozenset(raw.get("channels") or ())
    event_types = frozenset(str(t).lower() for t in raw.get("eventTypes") or ())
    conditions = raw.get("where", [])
    if not isinstance(conditions, list):
        raise MappingError(f"{where}.where: expected a list of conditions, got {conditions!r}")
    # one generated function: the channel, then the event type, then each condition, in
    # order, each only when the ones before held (as the closure and `compile_all` did)
    source = new_source()
    tests = []
    if channels:
        tests.append(f"doc.get('channel') in {source.constant(channels, '_channels')}")
    if event_types:
        tests.append(f"str(doc.get('eventType') or '').lower() in "
                     f"{source.constant(event_types, '_event_types')}")
    tests += expressions(conditions, f"{where}.where", source)
    body = f"return {' and '.join(f'({t})' for t in tests)}" if tests else "return True"
    return define("matches", "doc", source, [body], f"<{where}>")


def load_routes(schemas_dir: Path) -> tuple[Route, ...]:
    path = schemas_dir / ROUTES_FILE
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise MappingError(f"{path}: cannot read routes: {exc}") from None
    routes_raw = data.get("routes") if isinstance(data, dict) else None
    if not isinstance(routes_raw, list) or not routes_raw:
        raise MappingError(f"{path}: 'routes' must be a non-empty list")
    routes = []
    fields: list[frozenset[str]] = []  # the redactable fields, read once a route redacts

    def redactable() -> frozenset[str]:
        if not fields:
            fields.append(redactable_fields(schemas_dir))
        return fields[0]

    for i, raw in enumerate(routes_raw):
        where = f"{path}: routes[{i}]"
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,60}", name):
            raise MappingError(f"{where}: 'name' must be lower-case letters, digits and '-'")
        unknown = set(raw) - {"name", "description", "any", "redact"}
        if unknown:
            raise MappingError(f"{where}: unknown keys {sorted(unknown)}")
        filters = raw.get("any", [])
        if not isinstance(filters, list):
            raise MappingError(f"{where}: 'any' is a list of filters")
        redact = parse_redact(raw.get("redact", {}), redactable, f"{path}: route {name!r}")
        routes.append(Route(name, tuple(
            _compile_filter(f, f"{where}.any[{j}]") for j, f in enumerate(filters)
        ), redact))
    names = [r.name for r in routes]
    if len(set(names)) != len(names):
        raise MappingError(f"{path}: route names repeat: {names}")
    return tuple(routes)
