"""JSONPath, compiled once. Plain field/index chains get a fast walker; the rest jsonpath-ng."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.jsonpath import Child, Fields, Index, Root
from jsonpath_ng.parser import parse

from pipeline.mapping.errors import MappingError

Lookup = Callable[[Any], Any]
_MISSING = None


def compile_path(expression: str) -> Lookup:
    """Return a function doc -> first value at `expression` (None when nothing matches)."""
    try:
        parsed = parse(expression)
    except (JsonPathParserError, Exception) as exc:
        raise MappingError(f"invalid JSONPath {expression!r}: {exc}") from None
    steps = _plain_steps(parsed)
    if steps is not None:
        return _walker(tuple(steps))

    def find_first(doc: Any) -> Any:
        matches = parsed.find(doc)
        return matches[0].value if matches else _MISSING

    return find_first


def _plain_steps(node: Any) -> list[str | int] | None:
    """`$.a.b[0].c` as ['a', 'b', 0, 'c']; None when the path uses anything richer."""
    if isinstance(node, Root):
        return []
    if isinstance(node, Child):
        left = _plain_steps(node.left)
        right = _plain_steps(node.right)
        if left is None or right is None:
            return None
        return left + right
    if isinstance(node, Fields) and len(node.fields) == 1 and node.fields[0] != "*":
        return [node.fields[0]]
    if isinstance(node, Index) and len(node.indices) == 1:
        return [node.indices[0]]
    return None


def _walker(steps: tuple[str | int, ...]) -> Lookup:
    def walk(doc: Any) -> Any:
        for step in steps:
            if isinstance(step, str):
                if not isinstance(doc, dict):
                    return _MISSING
                doc = doc.get(step)
            else:
                if not isinstance(doc, list) or not -len(doc) <= step < len(doc):
                    return _MISSING
                doc = doc[step]
            if doc is None:
                return _MISSING
        return doc

    return walk
