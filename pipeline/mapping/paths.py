"""JSONPath, compiled once. Plain field/index chains get a fast walker; the rest jsonpath-ng."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.jsonpath import Child, Fields, Index, Root
from jsonpath_ng.parser import parse

from cxone_router.mapping.errors import MappingError

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


STEPS_ATTRIBUTE = "plain_steps"  # on a walker: its steps, for code that inlines them


def plain_steps(lookup: Lookup) -> tuple[str | int, ...] | None:
    """The steps of a lookup `compile_path` made for a plain path; None for jsonpath-ng's."""
    return getattr(lookup, STEPS_ATTRIBUTE, None)


def step_expression(parent: str, step: str | int) -> str:
    """Python source for one walker step from the variable `parent`: the value, or None (a
    name on anything but a dict, an index on anything but a list that holds it)."""
    if isinstance(step, str):
        return f"{parent}.get({step!r}) if isinstance({parent}, dict) else None"
    length = f"len({parent}) > {step!r}" if step >= 0 else f"len({parent}) >= {-step!r}"
    return f"{parent}[{step!r}] if isinstance({parent}, list) and {length} else None"


def _walker(steps: tuple[str | int, ...]) -> Lookup:
    """The walk generated for these steps: one expression per step, no loop. A None on the
    way stays None to the end (no step takes it), as the loop it replaced returned early."""
    lines = ["def walk(doc):"]
    node = "doc"
    for i, step in enumerate(steps):
        lines.append(f"    n{i} = {step_expression(node, step)}")
        node = f"n{i}"
    lines.append(f"    return {node}")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines) + "\n", f"<path {_expression(steps)}>", "exec"),  # noqa: S102
         namespace)
    walk: Lookup = namespace["walk"]
    setattr(walk, STEPS_ATTRIBUTE, steps)
    return walk


def _expression(steps: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)
