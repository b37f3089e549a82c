"""Detect the channel, derive the event's keys and build the normalized record."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson

from pipeline.mapping.errors import MappingError, MissingField, SchemaViolation, UnknownChannel
from pipeline.mapping.spec import ChannelSpec, CommonSpec, compile_field, load_mappings
from pipeline.mapping.values import as_string, ns_to_iso
from pipeline.mapping.version import mapping_version
from pipeline.payload import InvalidPayload

SCHEMA_VERSION = 1
RECORD_SCHEMA = "interaction.v1.json"


@dataclass(frozen=True, slots=True)
class EventKeys:
    """`idempotency_key` decides duplicates; `event_id` is what the edge answers with."""

    idempotency_key: str
    event_id: str


def _slot(name: str) -> tuple[str | None, str]:
    parent, _, leaf = name.rpartition(".")
    return (parent or None), leaf


class Normalizer:
    """All mappings, compiled once at start-up; `normalize` is the per-event hot path."""

    def __init__(self, common: CommonSpec, channels: tuple[ChannelSpec, ...],
                 record_schema: dict[str, Any], mapping_version: str) -> None:
        self.mapping_version = mapping_version  # every record's `mappingVersion`
        self._common = common
        self._channels = channels
        self._by_name = {c.channel: c for c in channels}
        self._interaction_id = compile_field(
            "interactionId", common.fields["interactionId"], "common.json"
        )
        self._validate = fastjsonschema.compile(record_schema)
        try:
            fastjsonschema.compile(record_schema["properties"]["mappingVersion"])(
                mapping_version)
        except (KeyError, fastjsonschema.JsonSchemaException) as exc:
            raise MappingError(f"{RECORD_SCHEMA} does not allow mappingVersion "
                               f"{mapping_version!r}: {exc}") from None
        self._slots = {f.name: _slot(f.name) for c in channels for f in c.fields}

    @classmethod
    def from_dir(cls, schemas_dir: Path) -> Normalizer:
        common, channels = load_mappings(schemas_dir / "mappings")
        schema = orjson.loads((schemas_dir / RECORD_SCHEMA).read_bytes())
        return cls(common, channels, schema, mapping_version(schemas_dir / "mappings"))

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def reported_fields(self) -> dict[str, tuple[str, ...]]:
        """Per channel, the fields a record lists in `missingFields` when they resolve to
        nothing (every mapped field but the optional ones)."""
        return {c.channel: tuple(f.name for f in c.fields if not f.optional)
                for c in self._channels}

    def detect(self, payload: dict[str, Any]) -> ChannelSpec | None:
        for spec in self._channels:
            if spec.detect(payload):
                return spec
        return None

    def keys(self, payload: dict[str, Any]) -> EventKeys:
        """The payload's own event id when present, else the brief's composite, else a hash."""
        for lookups in self._common.idempotency_key:
            parts = [as_string(lookup(payload)) for lookup in lookups]
            if all(parts):
                key = "|".join(parts)  # type: ignore[arg-type]
                if len(parts) == 1:
                    return EventKeys(key, key)
                return EventKeys(key, "h-" + hashlib.sha256(key.encode()).hexdigest()[:32])
        try:
            canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # the parser takes 1024 levels, the encoder 255
            raise InvalidPayload("JSON nested too deeply to identify (no event id, and "
                                 "more than 255 levels)") from None
        digest = hashlib.sha256(canonical).hexdigest()
        return EventKeys("sha256:" + digest, "h-" + digest[:32])

    def interaction_id(self, payload: dict[str, Any]) -> str | None:
        """The interaction id by the detected channel's paths, else by the common ones."""
        spec = self.detect(payload)
        fields = spec.fields if spec is not None else (self._interaction_id,)
        for f in fields:
            if f.name == "interactionId":
                value, _ = f.resolve(payload)
                return value  # type: ignore[no-any-return]
        return None

    def normalize(self, payload: dict[str, Any], received_at_ns: int,
                  keys: EventKeys | None = None) -> dict[str, Any]:
        spec = self.detect(payload)
        if spec is None:
            raise UnknownChannel(
                f"no mapping's detect rule matched; known channels: {', '.join(self.channels)}"
            )
        keys = keys or self.keys(payload)
        record: dict[str, Any] = {
            "schemaVersion": SCHEMA_VERSION,
            "eventId": keys.event_id,
            "idempotencyKey": keys.idempotency_key,
            "interactionId": None,
            "contactId": None,
            "channel": spec.channel,
            "eventType": None,
            "direction": None,
            "occurredAt": None,
            "receivedAt": ns_to_iso(received_at_ns),
            "customer": {"identifier": None, "type": None},
            "context": {},
            "tenant": {"tenantId": None, "businessUnitId": None},
            "missingFields": [],
        }
        missing = record["missingFields"]
        for f in spec.fields:
            value, sets = f.resolve(payload)
            if value is None:
                if not f.optional:
                    missing.append(f.name)
                continue
            self._put(record, f.name, value)
            for name, extra in sets:
                self._put(record, name, extra)
        for name in self._common.required:
            if name in missing:
                raise MissingField(f"required field {name!r} resolved to nothing ({spec.source})",
                                   spec.channel)
        try:
            self._validate(record)
        except fastjsonschema.JsonSchemaException as exc:
            raise SchemaViolation(f"normalized record violates {RECORD_SCHEMA}: {exc}",
                                  spec.channel) from None
        # after the check: the same string every time, checked once, at start-up
        record["mappingVersion"] = self.mapping_version
        return record

    def _put(self, record: dict[str, Any], name: str, value: Any) -> None:
        parent, leaf = self._slots.get(name) or _slot(name)
        (record[parent] if parent else record)[leaf] = value
