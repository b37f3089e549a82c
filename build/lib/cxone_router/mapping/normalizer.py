"""Detect the channel, derive the event's keys and build the normalized record."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson

from cxone_router.mapping.codegen import compile_fill, compile_keys
from cxone_router.mapping.conditions import compile_first
from cxone_router.mapping.errors import MappingError, MissingField, SchemaViolation, UnknownChannel
from cxone_router.mapping.form_names import FormNames
from cxone_router.mapping.schema_check import ANY, STR, Model, compile_check, compile_model_check
from cxone_router.mapping.spec import ChannelSpec, CommonSpec, compile_field, load_mappings
from cxone_router.mapping.values import as_string, as_timestamp, ns_to_iso
from cxone_router.mapping.version import mapping_version
from cxone_router.payload import InvalidPayload

SCHEMA_VERSION = 1
RECORD_SCHEMA = "interaction.v1.json"


@dataclass(frozen=True, slots=True)
class EventKeys:
    """`idempotency_key` decides duplicates; `event_id` is what the edge answers with."""

    idempotency_key: str
    event_id: str


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
        # True only for a record that certainly validates; else the validator decides. Per
        # channel, what the mappings cannot make invalid is not checked again per record.
        generic = compile_check(record_schema) or (lambda record: False)
        self._valid = {c.channel: compile_model_check(record_schema, _record_model(c))
                       or generic for c in channels}
        try:
            fastjsonschema.compile(record_schema["properties"]["mappingVersion"])(
                mapping_version)
        except (KeyError, fastjsonschema.JsonSchemaException) as exc:
            raise MappingError(f"{RECORD_SCHEMA} does not allow mappingVersion "
                               f"{mapping_version!r}: {exc}") from None
        self._fill = {c.channel: compile_fill(c.fields, c.source) for c in channels}
        # every channel's conditions in one function: the nodes their paths share, once
        self._detect: Callable[[Any], ChannelSpec | None] = (
            compile_first([(list(c.conditions), c, f"{c.source}: detect") for c in channels])
            if all(c.conditions for c in channels) else self._detect_in_turn)
        self._keys = compile_keys(common.idempotency_key, EventKeys, _composite_id)
        # a form's field names in the mappings' letter case, for `decode`
        self.form_names = FormNames.of(common, channels)

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
        """The first channel, in order, any of whose detect conditions holds."""
        return self._detect(payload)

    def _detect_in_turn(self, payload: dict[str, Any]) -> ChannelSpec | None:
        for spec in self._channels:
            if spec.detect(payload):
                return spec
        return None

    def keys(self, payload: dict[str, Any]) -> EventKeys:
        """The payload's own event id when present, else the brief's composite, else a hash."""
        found: EventKeys | None = self._keys(payload)  # by the payload's own fields
        if found is not None:
            return found
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
        self._fill[spec.channel](payload, record, missing)  # every field, in order
        for name in self._common.required:
            if name in missing:
                raise MissingField(f"required field {name!r} resolved to nothing ({spec.source})",
                                   spec.channel)
        try:
            if not self._valid[spec.channel](record):
                self._validate(record)  # raises, with the validator's own message
        except fastjsonschema.JsonSchemaException as exc:
            raise SchemaViolation(f"normalized record violates {RECORD_SCHEMA}: {exc}",
                                  spec.channel) from None
        # after the check: the same string every time, checked once, at start-up
        record["mappingVersion"] = self.mapping_version
        return record


def _composite_id(key: str) -> str:
    return "h-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _record_model(spec: ChannelSpec) -> Model:
    """What `Normalizer.normalize` can put in a record of this channel, for the record
    schema's fast check (pipeline/mapping/schema_check.py): each slot's possible values."""
    written: dict[str, list[tuple[Any, ...]]] = {}
    kinds: list[tuple[Any, ...]]
    for f in spec.fields:
        for candidate in f.candidates:
            if candidate.values is not None:
                kinds = [("const", v) for v in candidate.values.values()]
            elif f.coerce is as_string or f.coerce is as_timestamp:
                kinds = [STR]  # `strip() or None`, str(number), "true"; ISO-8601 text
            else:
                kinds = [ANY]
            written.setdefault(f.name, []).extend(kinds)
            for name, extra in candidate.sets:
                written.setdefault(name, []).append(("const", extra))

    def slot(name: str) -> tuple[bool, Model]:  # a slot every record has, null by default
        return True, ("values", [("const", None), *written.get(name, [])])

    context = {name.partition(".")[2]: (False, ("values", kinds))
               for name, kinds in written.items() if name.startswith("context.")}
    return ("object", {
        "schemaVersion": (True, ("values", [("const", SCHEMA_VERSION)])),
        "eventId": (True, ("values", [ANY])),  # a caller's EventKeys: checked per record
        "idempotencyKey": (True, ("values", [ANY])),
        "interactionId": slot("interactionId"),
        "contactId": slot("contactId"),
        "channel": (True, ("values", [("const", spec.channel)])),
        "eventType": slot("eventType"),
        "direction": slot("direction"),
        "occurredAt": slot("occurredAt"),
        "receivedAt": (True, ("values", [STR])),  # ns_to_iso
        "customer": (True, ("object", {"identifier": slot("customer.identifier"),
                                       "type": slot("customer.type")})),
        "context": (True, ("object", context)),
        "tenant": (True, ("object", {"tenantId": slot("tenant.tenantId"),
                                     "businessUnitId": slot("tenant.businessUnitId")})),
        "missingFields": (True, ("array", [("const", f.name) for f in spec.fields
                                           if not f.optional])),
    })
