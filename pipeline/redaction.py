"""PII redaction per fan-out route: which fields of the normalized record a route must not
see, and how (`redact` in `schemas/routes.json`).

- `drop`: a `context.*` field is removed; a field every record has (`customer.identifier`,
  `contactId`, `tenant.*`, ...) becomes null, so the record still validates against
  `interaction.v1.json`.
- `hash`: the hex HMAC-SHA256 of the value's UTF-8 bytes under `CXR_REDACTION_KEY`, the
  same in every worker, route and restart while the key is, so teams can still join on it.
- `mask`: `****` and the last four characters; values shorter than 8 characters become
  `****` (keeping four of them would show most of the value).

A null or absent value stays as it is. Plans are compiled once at start-up; per record a
plan copies only the dicts it changes and the record is serialized once per plan, or not
at all when nothing in it is redacted (the channel record's bytes are reused)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from cxone_router.errors import ConfigurationError
from cxone_router.mapping.errors import MappingError

ACTIONS = ("drop", "hash", "mask")
REDACTED_HEADER = "cxr-redacted"  # on a redacting route's records: `field=action,...`
MIN_KEY_CHARS = 16
# What `cxone-router dev` (and the test, bench and drill stacks) give workers when
# CXR_REDACTION_KEY is unset: hashes under it are not secret. A worker started any other
# way without a key, on routes that hash, refuses to start.
DEV_REDACTION_KEY = "cxr-dev-only-redaction-key-not-secret"

# Mapped fields a route cannot redact: the record's key, and enums whose redacted value
# would break the record's schema (and that identify no one).
NOT_REDACTABLE = frozenset({"interactionId", "direction", "customer.type"})

Action = Callable[[Any], Any]
_REMOVE = object()  # an action's result: remove the field


def redactable_fields(schemas_dir: Path) -> frozenset[str]:
    """Every field a mapping fills (dotted: `customer.identifier`, `context.messageText`),
    but the record's key and its enums."""
    from cxone_router.mapping.spec import field_names

    return field_names(schemas_dir / "mappings") - NOT_REDACTABLE


def parse_redact(raw: Any, fields: Callable[[], frozenset[str]],
                 where: str) -> tuple[tuple[str, str], ...]:
    """A route's `redact` object ({field: action}) checked, as sorted (field, action) pairs.
    `fields` gives the redactable fields (read only when a route redacts)."""
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: 'redact' is an object of field: action "
                           f"({', '.join(ACTIONS)})")
    for field, action in raw.items():
        if field not in fields():
            why = ("is the record's key or an enum" if field in NOT_REDACTABLE
                   else "is not a field any mapping fills")
            raise MappingError(
                f"{where}: redact {field!r}: {why}; redactable: {', '.join(sorted(fields()))}")
        if action not in ACTIONS:
            raise MappingError(
                f"{where}: redact {field!r}: unknown action {action!r} ({', '.join(ACTIONS)})")
    return tuple(sorted(raw.items()))


def _bytes(value: Any) -> bytes:
    return value.encode() if type(value) is str else orjson.dumps(value)


def keyed_sha256(key: bytes) -> Callable[[bytes], str]:
    """HMAC-SHA256 under `key` (RFC 2104), hex: the keyed inner and outer SHA-256 states
    are built once and copied per value. Equal to `hmac.new(key, data, "sha256")`
    (tested), at half its cost: `hmac.HMAC.copy` is Python, two `sha256.copy` are C."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hmac_sha256(data: bytes) -> str:
        i = inner.copy()
        i.update(data)
        o = outer.copy()
        o.update(i.digest())
        return o.hexdigest()

    return hmac_sha256


def _hasher(key: bytes) -> Action:
    mac = keyed_sha256(key)

    def hash_(value: Any) -> str:
        return mac(_bytes(value))

    return hash_


def mask(value: Any) -> str:
    text = value if type(value) is str else _bytes(value).decode()
    return "****" + text[-4:] if len(text) >= 8 else "****"


def _remove(value: Any) -> Any:
    return _REMOVE


def _null(value: Any) -> Any:
    return None


class RedactionPlan:
    """One route's redaction, compiled: `apply` is the per-record hot path."""

    def __init__(self, redact: Iterable[tuple[str, str]], key: bytes | None,
                 route: str = "") -> None:
        self.redact = tuple(redact)
        hash_ = None
        if any(action == "hash" for _, action in self.redact):
            if key is None:
                field = next(f for f, a in self.redact if a == "hash")
                raise ConfigurationError(
                    f"route {route!r} hashes {field!r} but CXR_REDACTION_KEY is not set: set "
                    f"it to a secret of at least {MIN_KEY_CHARS} characters, the same for every "
                    "worker (hashes change with it)")
            hash_ = _hasher(key)
        groups: dict[str | None, list[tuple[str, Action]]] = {}
        for name, action in self.redact:
            parent, _, leaf = name.rpartition(".")
            if action == "hash":
                assert hash_ is not None
                act = hash_
            elif action == "mask":
                act = mask
            else:  # every record has every field outside `context` (nullable)
                act = _remove if parent == "context" else _null
            groups.setdefault(parent or None, []).append((leaf, act))
        self._groups = tuple((parent, tuple(steps)) for parent, steps in groups.items())
        self.header = (REDACTED_HEADER,
                       ",".join(f"{f}={a}" for f, a in self.redact).encode())
        self.apply = _compile_apply(self._groups)  # type: ignore[method-assign,assignment]

    def apply(self, record: Mapping[str, Any], value: bytes) -> bytes:
        """The record redacted and serialized; `value` itself when nothing in it is (every
        field the plan names is absent or null). Copies only the dicts it changes.

        Each plan replaces this with the same steps generated for its fields at start-up
        (`_compile_apply`); this loop stays as their reference (tests/unit/test_codegen.py)."""
        out: dict[str, Any] | None = None
        for parent, steps in self._groups:
            src = record if parent is None else record.get(parent)
            if not src:
                continue
            dst: dict[str, Any] | None = None
            for leaf, act in steps:
                old = src.get(leaf)
                if old is None:
                    continue
                if dst is None:
                    if out is None:
                        out = dict(record)
                    if parent is None:
                        dst = out
                    else:
                        dst = out[parent] = dict(src)
                new = act(old)
                if new is _REMOVE:
                    del dst[leaf]
                else:
                    dst[leaf] = new
        return value if out is None else orjson.dumps(out)

    def __repr__(self) -> str:
        return f"RedactionPlan({dict(self.redact)})"


def _compile_apply(groups: tuple[tuple[str | None, tuple[tuple[str, Action], ...]], ...]
                   ) -> Callable[[Mapping[str, Any], bytes], bytes]:
    """`RedactionPlan.apply` for these groups, generated: the same steps in the same order
    (a dict copied the first time one of its fields changes, the record then serialized
    once), with no loop over the plan and no call for a drop."""
    namespace: dict[str, Any] = {"_dumps": orjson.dumps}
    lines = ["def apply(record, value):", "    out = None"]
    for g, (parent, steps) in enumerate(groups):
        src = f"src{g}"
        lines.append(f"    {src} = record" if parent is None else
                     f"    {src} = record.get({parent!r})")
        lines += [f"    if {src}:", "        dst = None"]
        for i, (leaf, act) in enumerate(steps):
            copy = ("dst = out" if parent is None else f"dst = out[{parent!r}] = dict({src})")
            lines += [f"        old = {src}.get({leaf!r})", "        if old is not None:",
                      "            if dst is None:", "                if out is None:",
                      "                    out = dict(record)", f"                {copy}"]
            if act is _remove:
                lines.append(f"            del dst[{leaf!r}]")
            elif act is _null:
                lines.append(f"            dst[{leaf!r}] = None")
            else:
                name = f"_act{g}_{i}"
                namespace[name] = act
                lines += [f"            new = {name}(old)", "            if new is _REMOVE:",
                          f"                del dst[{leaf!r}]", "            else:",
                          f"                dst[{leaf!r}] = new"]
                namespace["_REMOVE"] = _REMOVE
    lines.append("    return value if out is None else _dumps(out)")
    exec(compile("\n".join(lines) + "\n", "<redaction plan>", "exec"), namespace)  # noqa: S102
    apply: Callable[[Mapping[str, Any], bytes], bytes] = namespace["apply"]
    return apply
