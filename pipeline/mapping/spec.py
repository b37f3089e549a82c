"""Load and validate the mapping files: `common.json` plus one file per channel.

A field is an ordered list of candidate JSONPaths; the first that resolves wins, so schema
drift is a one-line change. See `schemas/mappings/README.md` for the format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cxone_router.mapping.conditions import Predicate, compile_any
from cxone_router.mapping.errors import MappingError
from cxone_router.mapping.paths import Lookup, compile_path
from cxone_router.mapping.values import COERCIONS

TOP_LEVEL_FIELDS = frozenset(
    {"interactionId", "contactId", "eventType", "direction", "occurredAt",
     "customer.identifier", "customer.type", "tenant.tenantId", "tenant.businessUnitId"}
)
COMMON_FILE = "common.json"


def is_output_field(name: str) -> bool:
    return name in TOP_LEVEL_FIELDS or (name.startswith("context.") and len(name) > 8)


@dataclass(frozen=True)
class Candidate:
    lookup: Lookup
    values: Mapping[str, str] | None
    sets: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FieldSpec:
    """One logical field of the normalized record and where to find it."""

    name: str
    candidates: tuple[Candidate, ...]
    coerce: Callable[[Any], Any]
    optional: bool

    def resolve(self, doc: Any) -> tuple[Any, tuple[tuple[str, str], ...]]:
        for candidate in self.candidates:
            value = candidate.lookup(doc)
            if value is None:
                continue
            value = self.coerce(value)
            if value is None:
                continue
            if candidate.values is not None:
                value = candidate.values.get(str(value).lower())
                if value is None:
                    continue
            return value, candidate.sets
        return None, ()


@dataclass(frozen=True)
class ChannelSpec:
    channel: str
    detect: Predicate
    fields: tuple[FieldSpec, ...]
    source: str = field(compare=False)
    conditions: tuple[Any, ...] = field(default=(), compare=False)  # `detect`, as written


@dataclass(frozen=True)
class CommonSpec:
    required: frozenset[str]
    idempotency_key: tuple[tuple[Lookup, ...], ...]
    fields: Mapping[str, Any]  # raw field specs, merged under each channel's


def _read(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise MappingError(f"{path}: cannot read mapping file: {exc}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{path}: expected a JSON object")
    return data


def _candidate(raw: Any, where: str, default_values: Mapping[str, str] | None) -> Candidate:
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        raise MappingError(f"{where}: a candidate is a JSONPath or {{'path': ...}}, got {raw!r}")
    unknown = set(raw) - {"path", "values", "set"}
    if unknown:
        raise MappingError(f"{where}: unknown keys {sorted(unknown)} in candidate {raw!r}")
    values = raw.get("values", default_values)
    if values is not None:
        if not isinstance(values, dict):
            raise MappingError(f"{where}: 'values' maps received values to output values")
        values = {str(k).lower(): v for k, v in values.items()}
    sets = raw.get("set", {})
    if not isinstance(sets, dict) or not all(is_output_field(k) for k in sets):
        raise MappingError(f"{where}: 'set' names record fields, got {sets!r}")
    try:
        lookup = compile_path(raw["path"])
    except MappingError as exc:
        raise MappingError(f"{where}: {exc}") from None
    return Candidate(lookup, values, tuple(sets.items()))


def compile_field(name: str, raw: Any, where: str) -> FieldSpec:
    if not is_output_field(name):
        raise MappingError(
            f"{where}: {name!r} is not a record field; use one of "
            f"{sorted(TOP_LEVEL_FIELDS)} or 'context.<name>'"
        )
    if isinstance(raw, list):
        raw = {"paths": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("paths"), list) or not raw["paths"]:
        raise MappingError(f"{where}: field {name!r} needs a non-empty list of paths")
    unknown = set(raw) - {"paths", "as", "values", "optional"}
    if unknown:
        raise MappingError(f"{where}: field {name!r} has unknown keys {sorted(unknown)}")
    kind = raw.get("as", "string")
    if kind not in COERCIONS:
        raise MappingError(f"{where}: field {name!r}: 'as' is one of {sorted(COERCIONS)}")
    candidates = tuple(
        _candidate(c, f"{where}: field {name!r}", raw.get("values")) for c in raw["paths"]
    )
    return FieldSpec(name, candidates, COERCIONS[kind], bool(raw.get("optional", False)))


def load_common(path: Path) -> CommonSpec:
    data = _read(path)
    required = data.get("required", [])
    if not isinstance(required, list) or not all(is_output_field(r) for r in required):
        raise MappingError(f"{path}: 'required' lists record fields, got {required!r}")
    keys = data.get("idempotencyKey", [])
    if not isinstance(keys, list) or not all(isinstance(k, list) and k for k in keys):
        raise MappingError(f"{path}: 'idempotencyKey' is a list of lists of JSONPaths")
    fields = data.get("fields", {})
    if not isinstance(fields, dict):
        raise MappingError(f"{path}: 'fields' must be an object")
    for name, raw in fields.items():
        compile_field(name, raw, str(path))  # validate now, compile per channel below
    return CommonSpec(
        required=frozenset(required),
        idempotency_key=tuple(tuple(compile_path(p) for p in parts) for parts in keys),
        fields=fields,
    )


def _channel(data: dict[str, Any], path: Path) -> str:
    channel = data.get("channel")
    if not isinstance(channel, str) or not channel.isidentifier():
        raise MappingError(f"{path}: 'channel' must be a simple name, got {channel!r}")
    return channel


def load_channel(path: Path, common: CommonSpec) -> ChannelSpec:
    data = _read(path)
    channel = _channel(data, path)
    fields_raw = data.get("fields", {})
    if not isinstance(fields_raw, dict):
        raise MappingError(f"{path}: 'fields' must be an object")
    merged = {**common.fields, **fields_raw}
    missing_required = common.required - set(merged)
    if missing_required:
        raise MappingError(f"{path}: no paths for required fields {sorted(missing_required)}")
    return ChannelSpec(
        channel=channel,
        detect=compile_any(data.get("detect"), f"{path}: detect"),
        fields=tuple(compile_field(n, raw, str(path)) for n, raw in merged.items()),
        source=str(path),
        conditions=tuple(data["detect"]),
    )


def load_mappings(directory: Path) -> tuple[CommonSpec, tuple[ChannelSpec, ...]]:
    """Read `common.json` and every other `*.json` in `directory`, in name order."""
    common_path = directory / COMMON_FILE
    if not common_path.is_file():
        raise MappingError(f"{directory}: {COMMON_FILE} is missing")
    common = load_common(common_path)
    channels = tuple(load_channel(p, common) for p in _channel_files(directory))
    _check_names([c.channel for c in channels], directory)
    return common, channels


def channel_names(directory: Path) -> tuple[str, ...]:
    """The channels `directory` maps, in the order `load_mappings` gives them, without
    compiling a mapping: what naming the topics needs."""
    names = [_channel(_read(p), p) for p in _channel_files(directory)]
    _check_names(names, directory)
    return tuple(names)


def field_names(directory: Path) -> frozenset[str]:
    """Every record field a mapping in `directory` fills (common.json's are every
    channel's), without compiling a mapping: what checking a route's `redact` needs."""
    names = set(_fields(_read(directory / COMMON_FILE), directory / COMMON_FILE))
    for path in _channel_files(directory):
        names.update(_fields(_read(path), path))
    return frozenset(names)


def _fields(data: dict[str, Any], path: Path) -> dict[str, Any]:
    fields = data.get("fields", {})
    if not isinstance(fields, dict):
        raise MappingError(f"{path}: 'fields' must be an object")
    return fields


def _channel_files(directory: Path) -> list[Path]:
    return [p for p in sorted(directory.glob("*.json")) if p.name != COMMON_FILE]


def _check_names(names: list[str], directory: Path) -> None:
    if not names:
        raise MappingError(f"{directory}: no channel mapping files")
    if len(set(names)) != len(names):
        raise MappingError(f"{directory}: two files map the same channel: {names}")
