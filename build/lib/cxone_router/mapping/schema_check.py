"""A fast yes for records that certainly validate; the full validator for everything else.

`fastjsonschema` validates a normalized record in ~11 µs, most of it bookkeeping for error
messages no valid record needs. `compile_check` turns a schema that uses only the keywords
below into one generated expression that answers True only when the record is valid, and
False when it is not or might not be; the normalizer then runs fastjsonschema, which raises
with its own message, or passes. So the records that pass and the messages of those that
fail are fastjsonschema's, and a schema with any other keyword gets no fast check at all.

Supported: `type` (string, null, boolean, integer, number, object, array), `const` and
`enum` of strings, null and (const only) integers, `minLength`, `maxLength`, `required`,
`properties`, `additionalProperties` (false or a schema), `items` (a schema), and the
annotations, which validate nothing. Each test is as strict as fastjsonschema's or
stricter (an array is a list, not a tuple; a const 1 is the int 1, not 1.0 or True)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default",
                          "examples", "deprecated", "readOnly", "writeOnly"})
_TYPES = {
    "string": "isinstance({x}, str)",
    "null": "{x} is None",
    "boolean": "isinstance({x}, bool)",
    "integer": "(isinstance({x}, int) and not isinstance({x}, bool))",
    "number": "(isinstance({x}, (int, float)) and not isinstance({x}, bool))",
    "object": "isinstance({x}, dict)",
    "array": "isinstance({x}, list)",
}


class Unsupported(Exception):
    """The schema uses something the fast check does not know."""


class _Compiler:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {}
        self.functions: list[str] = []

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def function(self, schema: Any) -> str:
        """A generated function `name(x) -> bool` for `schema`; returns its name."""
        return self._define(["return " + self.expression(schema, "x")])

    def _define(self, body: list[str]) -> str:
        name = f"_s{len(self.functions)}"
        self.functions.append("\n".join([f"def {name}(x):", *("    " + b for b in body)]))
        return name

    def expression(self, schema: Any, x: str) -> str:
        """A boolean expression over the variable `x`: True only if `x` is valid."""
        if schema is True or schema == {}:
            return "True"
        if not isinstance(schema, dict):
            raise Unsupported(repr(schema))
        unknown = set(schema) - _ANNOTATIONS - {
            "type", "const", "enum", "minLength", "maxLength", "required", "properties",
            "additionalProperties", "items"}
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        parts: list[str] = []
        kinds_: list[Any] = []
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not kinds or any(not isinstance(k, str) or k not in _TYPES for k in kinds):
                raise Unsupported(f"type {schema['type']!r}")
            parts.append("(" + " or ".join(_TYPES[k].format(x=x) for k in kinds) + ")")
            kinds_ = list(kinds)
        if "const" in schema:
            parts.append(self._equal_to_one_of([schema["const"]], x))
        if "enum" in schema:
            if not isinstance(schema["enum"], list) or not schema["enum"] or any(
                    type(v) is int for v in schema["enum"]):
                raise Unsupported("enum")
            parts.append(self._equal_to_one_of(schema["enum"], x))
        for keyword, test in (("minLength", ">="), ("maxLength", "<=")):
            if keyword in schema:
                limit = schema[keyword]
                if type(limit) is not int:
                    raise Unsupported(keyword)
                if kinds_ == ["string"]:  # the type test before it holds: a str
                    parts.append(f"len({x}) {test} {limit!r}")
                else:
                    parts.append(f"(not isinstance({x}, str) or len({x}) {test} {limit!r})")
        if {"required", "properties", "additionalProperties"} & set(schema):
            parts.append(f"{self._object(schema)}({x})")
        if "items" in schema:
            parts.append(f"(not isinstance({x}, list) or all(map({self.function(schema['items'])}, "
                         f"{x})))")
        return " and ".join(parts) if parts else "True"

    def _equal_to_one_of(self, values: list[Any], x: str) -> str:
        tests = []
        for kind in (str, int):
            same = [v for v in values if type(v) is kind]
            if same:
                tests.append(f"(type({x}) is {kind.__name__} and {x} in "
                             f"{self.constant(frozenset(same))})")
        if any(v is None for v in values):
            tests.append(f"{x} is None")
        if any(v is not None and type(v) not in (str, int) for v in values):
            raise Unsupported(f"const or enum values {values!r}")
        return "(" + " or ".join(tests) + ")"

    def _object(self, schema: dict[str, Any]) -> str:
        """A function for the object keywords (true for anything but a dict). A required
        property that is also listed is checked by reading it: a KeyError is a no."""
        required = schema.get("required", [])
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise Unsupported("required")
        if not isinstance(properties, dict) or not all(isinstance(p, str) for p in properties):
            raise Unsupported("properties")
        body = ["if not isinstance(x, dict):", "    return True"]
        unlisted = frozenset(required) - set(properties)
        if unlisted:
            body += [f"if not x.keys() >= {self.constant(unlisted)}:", "    return False"]
        if extra is False:
            body += [f"if not x.keys() <= {self.constant(frozenset(properties))}:",
                     "    return False"]
        elif extra is not True and extra != {}:
            known = self.constant(frozenset(properties))
            body += ["for k, v in x.items():",
                     f"    if k not in {known} and not ({self.expression(extra, 'v')}):",
                     "        return False"]
        checks = []
        for name, sub in properties.items():
            test = self.expression(sub, "v")
            if name in required:
                checks += [f"v = x[{name!r}]"]
            elif test != "True":
                checks += [f"v = x.get({name!r}, _ABSENT)", "if v is not _ABSENT:",
                           f"    if not ({test}):", "        return False"]
                continue
            if test != "True":
                checks += [f"if not ({test}):", "    return False"]
        if checks:
            self.namespace["_ABSENT"] = _ABSENT
            body += ["try:", *("    " + c for c in checks), "except KeyError:",
                     "    return False"]
        return self._define([*body, "return True"])


_ABSENT = object()


def compile_check(schema: Any) -> Callable[[Any], bool] | None:
    """A function record -> True when it certainly validates against `schema`; None when
    the schema uses anything the fast check does not know."""
    compiler = _Compiler()
    try:
        top = compiler.function(schema)
    except Unsupported:
        return None
    source = "\n".join(compiler.functions)
    exec(compile(source, "<record schema fast check>", "exec"), compiler.namespace)  # noqa: S102
    check: Callable[[Any], bool] = compiler.namespace[top]
    return check


# ---- what the record can hold, known at start-up ------------------------------------------

# A model of the values a slot of the record can hold, built by the normalizer from how it
# builds the record: ("values", kinds) with kinds ("const", v), ("str",) (a non-empty str)
# or ("any",); ("object", {key: (always there, model)}); ("array", item model).
Model = tuple[str, Any]
ANY: tuple[str, ...] = ("any",)
STR: tuple[str, ...] = ("str",)


class _NotProven(Exception):
    """The model cannot show the schema holds: no fast check for this channel."""


class _ModelCompiler:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"_ABSENT": _ABSENT}
        self.lines: list[str] = []  # the checks left for each record

    def check_of(self, schema: Any) -> Callable[[Any], bool]:
        check = compile_check(schema)
        if check is None:
            raise _NotProven("a keyword the fast check does not know")
        return check

    def model(self, schema: Any, model: Model, access: str, always: bool) -> None:
        kind, detail = model
        if kind == "values":
            self._values(schema, detail, access, always)
            return
        if not always or not isinstance(schema, dict) or schema.get("const", _ABSENT) \
                is not _ABSENT or "enum" in schema:
            raise _NotProven(access)
        self.check_of(schema)  # supported at all
        kinds = schema.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else []
        if kind == "array":
            if kinds and "array" not in kinds:
                raise _NotProven(access)
            if "items" in schema:
                self._values(schema["items"], detail, "", True, static_only=True)
            return
        keys: dict[str, tuple[bool, Model]] = detail
        if kinds and "object" not in kinds:
            raise _NotProven(access)
        properties = schema.get("properties", {})
        if not all(keys.get(r, (False,))[0] for r in schema.get("required", [])):
            raise _NotProven(f"{access}: a required property may be absent")
        extra = schema.get("additionalProperties", True)
        if extra is False and not set(keys) <= set(properties):
            raise _NotProven(f"{access}: a property the schema does not allow")
        for key, (present, sub_model) in keys.items():
            sub = properties.get(key, extra if key not in properties else True)
            if sub is True or sub == {}:
                continue
            self.model(sub, sub_model, f"{access}[{key!r}]", present)

    def _values(self, schema: Any, kinds: list[tuple[Any, ...]], access: str, always: bool,
                static_only: bool = False) -> None:
        check = self.check_of(schema)
        proven = all(
            (k[0] == "const" and check(k[1])) or (k[0] == "str" and _any_text_fits(schema))
            for k in kinds)
        if proven:
            return
        if static_only:
            raise _NotProven(access)
        name = f"_check{len(self.namespace)}"
        self.namespace[name] = check
        if always:
            self.lines += [f"if not {name}({access}):", "    return False"]
        else:
            parent, _, key = access.rpartition("[")
            self.lines += [f"v = {parent}.get({key[:-1]}, _ABSENT)",
                           f"if v is not _ABSENT and not {name}(v):", "    return False"]


def _any_text_fits(schema: Any) -> bool:
    """Every non-empty str is valid against `schema` (a supported one)."""
    if schema is True or schema == {}:
        return True
    if not isinstance(schema, dict) or "const" in schema or "enum" in schema \
            or "maxLength" in schema or schema.get("minLength", 0) > 1:
        return False
    kinds = schema.get("type")
    return kinds is None or kinds == "string" or (isinstance(kinds, list) and "string" in kinds)


def compile_model_check(schema: Any, model: Model) -> Callable[[Any], bool] | None:
    """A check for records that hold what `model` says: the schema's tests that the model
    cannot show to hold for every such record, and nothing else; None when it shows too
    little (a required property that may be absent, an unknown keyword...). True only when
    the record certainly validates, as `compile_check`."""
    compiler = _ModelCompiler()
    try:
        compiler.model(schema, model, "x", True)
    except (_NotProven, Unsupported):
        return None
    body = ["try:", *("    " + line for line in compiler.lines or ["pass"]),
            "except (KeyError, TypeError, AttributeError):", "    return False",
            "return True"]
    source = "def check(x):\n" + "\n".join("    " + b for b in body) + "\n"
    exec(compile(source, "<record model check>", "exec"), compiler.namespace)  # noqa: S102
    check: Callable[[Any], bool] = compiler.namespace["check"]
    check.__source__ = source  # type: ignore[attr-defined]
    return check
