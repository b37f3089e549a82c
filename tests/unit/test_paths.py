"""The fast walker must agree with jsonpath-ng on every path it takes over."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from jsonpath_ng.parser import parse

from cxone_router.mapping.paths import _plain_steps, compile_path

NAMES = st.sampled_from(["data", "case", "customer", "identities", "id", "0"])
STEPS = st.lists(st.one_of(NAMES, st.integers(min_value=-2, max_value=2)), min_size=1,
                 max_size=4)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(NAMES, inner, max_size=4)),
    max_leaves=12,
)


def _expression(steps: list[str | int]) -> str:
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)


@given(steps=STEPS, doc=JSON)
def test_walker_agrees_with_jsonpath_ng(steps: list[str | int], doc: Any) -> None:
    expression = _expression(steps)
    matches = parse(expression).find(doc)
    expected = matches[0].value if matches else None
    assert compile_path(expression)(doc) == expected


def test_rich_paths_fall_back_to_jsonpath_ng() -> None:
    assert _plain_steps(parse("$.data.participants[*].email")) is None
    lookup = compile_path("$.data.participants[*].email")
    assert lookup({"data": {"participants": [{"x": 1}, {"email": "a@b"}]}}) == "a@b"
