"""Conditions over a JSON document, shared by channel detection and fan-out routes.

A condition is `{"path": "$.x", "in": [...]}`, `{"path": ..., "equals": v}`,
`{"path": ..., "exists": true|false}` or `{"path": ..., "matches": "regex"}`.
Strings compare case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.mapping.errors import MappingError
from pipeline.mapping.paths import compile_path

Predicate = Callable[[Any], bool]
_TESTS = ("in", "equals", "exists", "matches")
_SCALARS = (str, int, float, bool)


def _fold(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, bool):
        return str(value).lower()
    return value


def compile_condition(spec: Mapping[str, Any], where: str) -> Predicate:
    if not isinstance(spec, Mapping) or "path" not in spec:
        raise MappingError(f"{where}: a condition needs a 'path', got {spec!r}")
    tests = [name for name in _TESTS if name in spec]
    unknown = set(spec) - {"path", *_TESTS}
    if len(tests) != 1 or unknown:
        raise MappingError(f"{where}: a condition has a 'path' and one of {_TESTS}, got {spec!r}")
    lookup = compile_path(spec["path"])
    test = tests[0]
    if test == "exists":
        wanted = bool(spec["exists"])
        return lambda doc: (lookup(doc) is not None) is wanted
    if test == "matches":
        try:
            pattern = re.compile(spec["matches"], re.IGNORECASE)
        except re.error as exc:
            raise MappingError(f"{where}: bad regex {spec['matches']!r}: {exc}") from None
        return lambda doc: isinstance(v := lookup(doc), str) and bool(pattern.search(v))
    if test == "equals":
        target = _fold(spec["equals"])
        return lambda doc: _fold(lookup(doc)) == target
    values = spec["in"]
    if not isinstance(values, list) or not values:
        raise MappingError(f"{where}: 'in' takes a non-empty list, got {values!r}")
    allowed = frozenset(_fold(v) for v in values)
    # a list or an object where a scalar belongs matches nothing (and is not hashable)
    return lambda doc: isinstance(v := lookup(doc), _SCALARS) and _fold(v) in allowed


def compile_all(specs: Any, where: str) -> Predicate:
    """Every condition must hold (an empty list always holds)."""
    if not isinstance(specs, list):
        raise MappingError(f"{where}: expected a list of conditions, got {specs!r}")
    predicates = [compile_condition(s, f"{where}[{i}]") for i, s in enumerate(specs)]
    return lambda doc: all(p(doc) for p in predicates)


def compile_any(specs: Any, where: str) -> Predicate:
    """At least one condition must hold."""
    if not isinstance(specs, list) or not specs:
        raise MappingError(f"{where}: expected a non-empty list of conditions, got {specs!r}")
    predicates = [compile_condition(s, f"{where}[{i}]") for i, s in enumerate(specs)]
    return lambda doc: any(p(doc) for p in predicates)
