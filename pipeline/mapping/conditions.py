"""Conditions over a JSON document, shared by channel detection and fan-out routes.

A condition is `{"path": "$.x", "in": [...]}`, `{"path": ..., "equals": v}`,
`{"path": ..., "exists": true|false}` or `{"path": ..., "matches": "regex"}`.
Strings compare case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from cxone_router.mapping.codegen import Source, define
from cxone_router.mapping.errors import MappingError
from cxone_router.mapping.paths import compile_path

Predicate = Callable[[Any], bool]
_TESTS = ("in", "equals", "exists", "matches")
_SCALARS = (str, int, float, bool)


def _fold(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, bool):
        return str(value).lower()
    return value


def _check(spec: Any, where: str) -> str:
    """The condition's test, once its spec is checked."""
    if not isinstance(spec, Mapping) or "path" not in spec:
        raise MappingError(f"{where}: a condition needs a 'path', got {spec!r}")
    tests = [name for name in _TESTS if name in spec]
    unknown = set(spec) - {"path", *_TESTS}
    if len(tests) != 1 or unknown:
        raise MappingError(f"{where}: a condition has a 'path' and one of {_TESTS}, got {spec!r}")
    return tests[0]


def _expression(spec: Mapping[str, Any], where: str, source: Source) -> str:
    """A boolean Python expression for the condition over `source`'s document: the tests
    of the closures it replaced (tests/unit/test_codegen.py keeps them as the reference),
    in the same order, on the same values."""
    test = _check(spec, where)
    lookup = compile_path(spec["path"])
    value = source.leaf(lookup)
    if test == "exists":
        return f"({value} is {'not ' if spec['exists'] else ''}None)"
    if test == "matches":
        try:
            pattern = re.compile(spec["matches"], re.IGNORECASE)
        except re.error as exc:
            raise MappingError(f"{where}: bad regex {spec['matches']!r}: {exc}") from None
        search = source.constant(pattern.search, "_search")
        return f"(isinstance(_v := {value}, str) and bool({search}(_v)))"
    if test == "equals":
        target = source.constant(_fold(spec["equals"]), "_target")
        return f"(_fold({value}) == {target})"
    values = spec["in"]
    if not isinstance(values, list) or not values:
        raise MappingError(f"{where}: 'in' takes a non-empty list, got {values!r}")
    allowed = source.constant(frozenset(_fold(v) for v in values), "_allowed")
    # a list or an object where a scalar belongs matches nothing (and is not hashable)
    return (f"(_v.lower() in {allowed} if isinstance(_v := {value}, str) else "
            f"isinstance(_v, _SCALARS) and _fold(_v) in {allowed})")


def new_source() -> Source:
    """A `Source` over `doc` whose namespace has what condition expressions use."""
    return Source("doc", {"_fold": _fold, "_SCALARS": _SCALARS})


def expressions(specs: list[Any], where: str, source: Source) -> list[str]:
    """Each condition of `specs` as a boolean expression over `source`'s document."""
    return [_expression(s, f"{where}[{i}]", source) for i, s in enumerate(specs)]


def _predicate(specs: list[Any], where: str, joiner: str, empty: str,
               name: str) -> Predicate:
    source = new_source()
    parts = expressions(specs, where, source)
    body = f" {joiner} ".join(parts) if parts else empty
    return define(name, "doc", source, [f"return {body}"], f"<{where}>")


def compile_condition(spec: Mapping[str, Any], where: str) -> Predicate:
    source = Source("doc", {"_fold": _fold, "_SCALARS": _SCALARS})
    return define("condition", "doc", source, [f"return {_expression(spec, where, source)}"],
                  f"<{where}>")


def compile_all(specs: Any, where: str) -> Predicate:
    """Every condition must hold (an empty list always holds)."""
    if not isinstance(specs, list):
        raise MappingError(f"{where}: expected a list of conditions, got {specs!r}")
    return _predicate(specs, where, "and", "True", "all_of")


def compile_any(specs: Any, where: str) -> Predicate:
    """At least one condition must hold."""
    if not isinstance(specs, list) or not specs:
        raise MappingError(f"{where}: expected a non-empty list of conditions, got {specs!r}")
    return _predicate(specs, where, "or", "False", "any_of")


def compile_first(groups: list[tuple[Any, Any, str]]) -> Callable[[Any], Any]:
    """`first(doc)`: the result of the first group any of whose conditions holds, else None;
    the groups (specs, result, where) in order, as `compile_any` predicates tried in turn
    would find it, with the nodes their paths share computed once."""
    source = Source("doc", {"_fold": _fold, "_SCALARS": _SCALARS})
    body = []
    for specs, result, where in groups:
        if not isinstance(specs, list) or not specs:
            raise MappingError(f"{where}: expected a non-empty list of conditions, got {specs!r}")
        parts = [_expression(s, f"{where}[{i}]", source) for i, s in enumerate(specs)]
        body += [f"if {' or '.join(parts)}:", f"    return {source.constant(result, '_result')}"]
    return define("first", "doc", source, [*body, "return None"], "<first of>")
