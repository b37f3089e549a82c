"""Studio authors name their variables in any letter case (`ContactId`, `contactid`,
`CONTACTID`): a form field whose name differs from one the mappings use only in case is
renamed, once per form, to the mappings' spelling.

Done where a form is parsed, not in the mappings' lookups: JSON bodies (most events) pay
nothing, and the compiled paths stay exact. A name the mappings spell exactly is kept as
it is (so a form that matched before maps as before), and a rename never replaces a field
the form already has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from cxone_router.mapping.paths import compile_path, plain_steps
from cxone_router.mapping.spec import ChannelSpec, CommonSpec


class FormNames:
    def __init__(self, spellings: Iterable[str]) -> None:
        self._known = frozenset(spellings)
        self._folded: dict[str, str] = {}
        for name in sorted(self._known):  # the same choice on every start
            self._folded.setdefault(name.casefold(), name)

    def __call__(self, fields: dict[str, Any]) -> dict[str, Any]:
        renames = [(name, spelled) for name in fields if name not in self._known
                   and (spelled := self._folded.get(name.casefold())) is not None
                   and spelled not in fields]
        for name, spelled in renames:
            fields[spelled] = fields.pop(name)
        return fields

    @classmethod
    def of(cls, common: CommonSpec, channels: Iterable[ChannelSpec]) -> FormNames:
        """The first step of every plain path the mappings read: fields, event keys and
        channel detection (a form is flat: only top-level names can match)."""
        channels = tuple(channels)
        lookups = [c.lookup for ch in channels for f in ch.fields for c in f.candidates]
        lookups += [lookup for parts in common.idempotency_key for lookup in parts]
        lookups += [compile_path(p) for ch in channels for p in _paths(ch.conditions)]
        return cls(str(steps[0]) for lookup in lookups
                   if (steps := plain_steps(lookup)) and isinstance(steps[0], str))


def _paths(conditions: Any) -> Iterator[str]:
    if isinstance(conditions, dict):
        if isinstance(conditions.get("path"), str):
            yield conditions["path"]
        for value in conditions.values():
            yield from _paths(value)
    elif isinstance(conditions, (list, tuple)):
        for item in conditions:
            yield from _paths(item)
