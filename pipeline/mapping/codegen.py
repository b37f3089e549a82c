"""Python source for the mappings' hot paths, generated and compiled once at start-up.

A plain path (`$.data.case.id`, `$.data.participants[0].email`) becomes inline dict and
list steps with the walker's exact semantics (pipeline/mapping/paths.py): a step on
anything but a dict (a name) or a list holding that index gives None, and so does a None
on the way. Within one generated function, each inner node of the plain paths (`$.data`,
`$.data.case`) is computed once, up front: the steps are pure and cannot raise, so
computing one early changes nothing but the time taken. Leaves are computed where the
original computed them, in the same order; a path jsonpath-ng resolves (`[*]`, filters) is
called through its compiled lookup, where and when the original called it.

Every constant from a mapping file reaches the generated code as a name bound in the
function's namespace or as `repr()` of a str or an int, never as spliced text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cxone_router.mapping.paths import Lookup, plain_steps
from cxone_router.mapping.values import as_any, as_string

if TYPE_CHECKING:
    from cxone_router.mapping.spec import FieldSpec

Fill = Callable[[Any, dict[str, Any], list[str]], None]

Step = str | int


_EMPTY_DICT: dict[str, Any] = {}  # a node that is no dict, seen as a dict: never written
_EMPTY_LIST = ()  # a node that is no list, seen as a list


class Source:
    """The body of one generated function over one document variable.

    Each inner node is seen through a view made once: the node itself when it is a dict
    (or a list), else an empty one, so that a leaf is a plain `.get(name)` (or an index
    within the length) with no type test of its own, and gives None where the walker did.
    The nodes under a view are computed only when it is not the empty one; else they are
    None and their views empty, which is what computing them would have given."""

    def __init__(self, root: str, namespace: dict[str, Any]) -> None:
        self.root = root
        self.namespace = namespace
        namespace.setdefault("_EMPTY_DICT", _EMPTY_DICT)
        namespace.setdefault("_EMPTY_LIST", _EMPTY_LIST)
        self._names: dict[tuple[Step, ...], str] = {(): root}
        self._views: dict[tuple[tuple[Step, ...], type], str] = {}
        self._values: dict[str, str] = {}  # node -> its expression, over a view
        self._under: dict[str, list[str]] = {}  # view -> the nodes computed from it
        self._views_of: dict[str, list[str]] = {}  # node -> its views
        self._empty: dict[str, str] = {}  # view -> the name of its empty value

    def constant(self, value: Any, prefix: str = "_k") -> str:
        """A name in the namespace bound to `value`."""
        name = f"{prefix}{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def node(self, steps: tuple[Step, ...]) -> str:
        """The variable holding the node at `steps` (None when the walk stops early)."""
        name = self._names.get(steps)
        if name is None:
            view, value = self._step(steps[:-1], steps[-1])  # its parent's first
            name = f"_n{len(self._names)}"
            self._values[name] = value
            self._under.setdefault(view, []).append(name)
            self._names[steps] = name
        return name

    def _view(self, steps: tuple[Step, ...], kind: type) -> str:
        name = self._views.get((steps, kind))
        if name is None:
            node = self.node(steps)
            name = f"{node}_{kind.__name__}"
            self._empty[name] = "_EMPTY_DICT" if kind is dict else "_EMPTY_LIST"
            self._views_of.setdefault(node, []).append(name)
            self._views[steps, kind] = name
        return name

    def _step(self, parent: tuple[Step, ...], step: Step) -> tuple[str, str]:
        """The walker's step from the node at `parent`: the view it reads, and the
        expression for the value (or None)."""
        if isinstance(step, str):
            view = self._view(parent, dict)
            return view, f"{view}.get({step!r})"
        view = self._view(parent, list)
        length = f"len({view}) > {step!r}" if step >= 0 else f"len({view}) >= {-step!r}"
        return view, f"({view}[{step!r}] if {length} else None)"

    @property
    def nodes(self) -> list[str]:
        """The lines that compute every inner node and view, parents first."""
        return self._views_lines(self.root)

    def _views_lines(self, node: str) -> list[str]:
        lines = []
        for view in self._views_of.get(node, []):
            kind = "dict" if self._empty[view] == "_EMPTY_DICT" else "list"
            lines.append(f"{view} = {node} if isinstance({node}, {kind}) else "
                         f"{self._empty[view]}")
            below = self._under.get(view)
            if below:
                inner: list[str] = []
                for child in below:
                    inner += [f"{child} = {self._values[child]}", *self._views_lines(child)]
                lines += [f"if {view} is not {self._empty[view]}:", *indent(inner), "else:",
                          *indent(self._absent(view))]
        return lines

    def _absent(self, view: str) -> list[str]:
        """Every node under an empty view: None, and their views empty."""
        lines = []
        for child in self._under.get(view, []):
            lines.append(f"{child} = None")
            for sub in self._views_of.get(child, []):
                lines += [f"{sub} = {self._empty[sub]}", *self._absent(sub)]
        return lines

    def leaf(self, lookup: Lookup) -> str:
        """An expression for `lookup(doc)`: inline steps for a plain path, else a call."""
        steps = plain_steps(lookup)
        if steps is None:
            return f"{self.constant(lookup, '_lookup')}({self.root})"
        if not steps:
            return self.root
        return f"({self._step(steps[:-1], steps[-1])[1]})"


def define(name: str, args: str, source: Source, body: list[str],
           filename: str) -> Callable[..., Any]:
    """Compile `def name(args):` with the inner nodes first, then `body`."""
    lines = [f"def {name}({args}):", *("    " + line for line in source.nodes + body)]
    code = compile("\n".join(lines) + "\n", filename, "exec")
    exec(code, source.namespace)  # noqa: S102 - our own source, constants bound by name
    function: Callable[..., Any] = source.namespace[name]
    function.__source__ = "\n".join(lines)  # type: ignore[attr-defined]  # for debugging
    return function


def indent(lines: list[str], levels: int = 1) -> list[str]:
    return ["    " * levels + line for line in lines]


# ---- a channel's fields -------------------------------------------------------------------

_PARENTS = ("customer", "tenant", "context")  # the record's dicts, made with it
MAX_INLINE_CANDIDATES = 40  # more, and a field resolves through its FieldSpec (nesting)


def compile_fill(fields: Sequence[FieldSpec], where: str) -> Fill:
    """`fill(doc, record, missing)`: what `Normalizer.normalize` did per field, generated.

    For each field in order: its candidates in order, each looked up, coerced and mapped
    through its `values` as `FieldSpec.resolve` does; the first that gives a value is
    written to the record, then its `set` fields; with none, a field that is not optional
    is appended to `missing`. The record's dicts are filled in the same order, so the
    record's keys are too."""
    source = Source("doc", {"_as_string": as_string, "_put": _put})
    body: list[str] = []
    parents = {p: f"_p{i}" for i, p in enumerate(_PARENTS)}
    for f in fields:
        if len(f.candidates) > MAX_INLINE_CANDIDATES:
            body += _resolved(f, source, parents)
        else:
            body += _chain(f, 0, source, parents)
    prefetch = [f"{var} = record[{p!r}]" for p, var in parents.items()]
    return define("fill", "doc, record, missing", source, prefetch + (body or ["pass"]),
                  f"<fields of {where}>")


def _put(record: dict[str, Any], name: str, value: Any) -> None:
    parent, _, leaf = name.rpartition(".")
    (record[parent] if parent else record)[leaf] = value


def _target(name: str, parents: dict[str, str]) -> str:
    parent, _, leaf = name.rpartition(".")
    if not parent:
        return f"record[{leaf!r}]"
    if parent in parents:
        return f"{parents[parent]}[{leaf!r}]"
    return f"record[{parent!r}][{leaf!r}]"  # a KeyError, as `_put` raised


def _absent(f: FieldSpec) -> list[str]:
    return ["pass"] if f.optional else [f"missing.append({f.name!r})"]


def _chain(f: FieldSpec, i: int, source: Source, parents: dict[str, str]) -> list[str]:
    if i == len(f.candidates):
        return _absent(f)
    candidate = f.candidates[i]
    lines = [f"v = {source.leaf(candidate.lookup)}"]
    steps = []
    if f.coerce is as_string:
        steps.append("v = (v.strip() or None) if isinstance(v, str) else _as_string(v)")
    elif f.coerce is not as_any:
        steps.append(f"v = {source.constant(f.coerce, '_coerce')}(v)")
    if candidate.values is not None:
        steps.append(f"v = {source.constant(candidate.values, '_values')}.get(str(v).lower())")
    for depth, step in enumerate(steps):  # each only on a value the one before left
        lines += indent(["if v is not None:", "    " + step], depth)
    found = [f"{_target(f.name, parents)} = v"] + [
        f"{_target(name, parents)} = {source.constant(extra, '_set')}"
        for name, extra in candidate.sets]
    return [*lines, "if v is not None:", *indent(found), "else:",
            *indent(_chain(f, i + 1, source, parents))]


def _resolved(f: FieldSpec, source: Source, parents: dict[str, str]) -> list[str]:
    resolve = source.constant(f.resolve, "_resolve")
    return [f"v, sets = {resolve}(doc)", "if v is None:", *indent(_absent(f)), "else:",
            f"    {_target(f.name, parents)} = v",
            "    for name, extra in sets:", "        _put(record, name, extra)"]


def compile_keys(groups: Sequence[Sequence[Lookup]], make: Callable[[str, str], Any],
                 digest: Callable[[str], str]) -> Callable[[Any], Any]:
    """`keys(doc)`: what `Normalizer.keys` found by its lookups, generated: for each group
    in order, every part looked up and made a string (all of them, as the list did), and
    the first group whose parts are all non-empty gives `make(key, event id)`: a single
    part is both, several are joined by "|" and the event id is `digest(key)`. None when no
    group does (the caller hashes the payload)."""
    source = Source("doc", {"_as_string": as_string, "_make": make, "_digest": digest})
    body: list[str] = []
    for g, lookups in enumerate(groups):
        parts = [f"p{g}_{i}" for i in range(len(lookups))]
        for part, lookup in zip(parts, lookups, strict=True):
            body += [f"{part} = {source.leaf(lookup)}",
                     f"{part} = ({part}.strip() or None) if isinstance({part}, str) "
                     f"else _as_string({part})"]
        if not parts:  # all() of nothing holds: the key is ""
            body += ["return _make('', _digest(''))"]
            break
        if len(parts) == 1:
            body += [f"if {parts[0]}:", f"    return _make({parts[0]}, {parts[0]})"]
        else:
            body += [f"if {' and '.join(parts)}:",
                     f"    key = '|'.join(({', '.join(parts)},))",
                     "    return _make(key, _digest(key))"]
    return define("keys", "doc", source, [*body, "return None"], "<idempotency keys>")
