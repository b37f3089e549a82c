"""Turn a raw webhook body into a JSON object; shared by the edge and the agents.

CXone posts JSON; Studio's REST action posts form fields by default. Both become a dict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import orjson

from cxone_router.dlq import DeadLetterError, Reason
from cxone_router.errors import CxoneRouterError

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


class InvalidPayload(DeadLetterError):
    """The body is not a JSON object (or form) we can read: a 400 at the edge, a dead
    letter in a worker."""

    reason = Reason.INVALID_JSON


class UnsupportedMediaType(CxoneRouterError):
    """The content type is neither JSON nor form-encoded."""


_KNOWN_TYPES: dict[str, str] = {}  # content type -> media type, for the types seen most
_KNOWN_TYPES_MAX = 64  # a sender choosing its content types cannot grow it past this


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`; JSON when absent."""
    if not content_type:
        return JSON
    known = _KNOWN_TYPES.get(content_type)
    if known is None:
        known = _media_type(content_type)  # raises for an unsupported one: never kept
        if len(_KNOWN_TYPES) < _KNOWN_TYPES_MAX:
            _KNOWN_TYPES[content_type] = known
    return known


def _media_type(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    if base == JSON or (base.startswith("application/") and base.endswith("+json")):
        return JSON
    if base == FORM:
        return FORM
    raise UnsupportedMediaType(f"unsupported content type {base!r}; send {JSON} or {FORM}")


UTF8_BOM = b"\xef\xbb\xbf"


FieldNames = Callable[[dict[str, Any]], dict[str, Any]]


def decode(body: bytes, content_type: str | None, max_form_fields: int = 1000,
           form_names: FieldNames | None = None) -> dict[str, Any]:
    """Parse a body into a JSON object, or raise InvalidPayload saying why. A UTF-8
    byte-order mark before JSON is ignored (RFC 8259 §8.1: .NET senders write one).
    `form_names` renames a form's fields (the mappings' spelling of a name in another
    letter case: pipeline/mapping/form_names.py)."""
    kind = media_type(content_type)
    if body.startswith(UTF8_BOM):
        body = body[3:]
    if kind == FORM and not body.lstrip().startswith(b"{"):
        fields = _decode_form(body, max_form_fields)
        return form_names(fields) if form_names is not None else fields
    # JSON, or JSON sent with Studio's default form content type (a common script slip)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidPayload(f"invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidPayload(f"expected a JSON object, got {type(value).__name__}")
    return value


def parse_form(text: str, max_fields: int) -> list[tuple[str, str]]:
    """`parse_qsl(text, keep_blank_values=True, strict_parsing=False,
    max_num_fields=max_fields)`, the same pairs and the same error, without its per-field
    calls: `unquote` returns a text without `%` as it is, so only a text with one goes
    through it (with parse_qsl's own encoding and errors: UTF-8, replace)."""
    if text and max_fields < 1 + text.count("&"):
        raise ValueError("Max number of fields exceeded")
    pairs = []
    for field in text.split("&") if text else ():
        if not field:
            continue
        name, _, value = field.partition("=")  # no "=": a blank value, kept
        name = name.replace("+", " ")
        value = value.replace("+", " ")
        if "%" in name:
            name = unquote(name, encoding="utf-8", errors="replace")
        if "%" in value:
            value = unquote(value, encoding="utf-8", errors="replace")
        pairs.append((name, value))
    return pairs


def _decode_form(body: bytes, max_fields: int) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
        pairs = parse_form(text, max_fields)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidPayload(f"invalid form body: {exc}") from None
    fields: dict[str, Any] = {}
    for name, value in pairs:
        previous = fields.get(name)
        if previous is None:
            fields[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            fields[name] = [previous, value]
    if not fields:
        raise InvalidPayload("empty form body")
    return fields
