"""Checks of an OpenAPI 3.1 document and of answers against it, with what the project
already has (fastjsonschema): no OpenAPI validator is a dependency.

`structure_problems` checks what the specification requires of the objects the edge's
document uses; `check_answer` that an HTTP answer is one the document declares.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import fastjsonschema
import httpx

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_STATUS = re.compile(r"[1-5](?:\d\d|XX)|default")
_SECURITY_TYPES = {"apiKey": ("name", "in"), "http": ("scheme",), "mutualTLS": (),
                   "oauth2": ("flows",), "openIdConnect": ("openIdConnectUrl",)}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def resolve(doc: Mapping[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def schema_validator(doc: Mapping[str, Any], schema: Mapping[str, Any]) -> Any:
    """A validator for `schema`, its `#/components/...` references resolved in `doc`."""
    return fastjsonschema.compile({**schema, "components": doc.get("components", {})})


def structure_problems(doc: Mapping[str, Any]) -> list[str]:
    """What makes `doc` no OpenAPI 3.1 document (for the objects it uses); [] when fine."""
    problems: list[str] = []
    if not str(doc.get("openapi", "")).startswith("3.1."):
        problems.append(f"openapi is {doc.get('openapi')!r}, not 3.1.x")
    info = doc.get("info", {})
    if not (isinstance(info.get("title"), str) and isinstance(info.get("version"), str)):
        problems.append("info needs a title and a version")
    schemes = doc.get("components", {}).get("securitySchemes", {})
    for name, scheme in schemes.items():
        needed = _SECURITY_TYPES.get(scheme.get("type"))
        if needed is None or any(k not in scheme for k in needed):
            problems.append(f"securitySchemes.{name}: bad type or missing {needed}")
        if scheme.get("type") == "apiKey" and scheme.get("in") not in ("query", "header",
                                                                        "cookie"):
            problems.append(f"securitySchemes.{name}: apiKey 'in' is query, header or cookie")
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        try:
            schema_validator(doc, schema)
        except fastjsonschema.JsonSchemaDefinitionException as exc:
            problems.append(f"components.schemas.{name}: {exc}")
    for path, item in doc.get("paths", {}).items():
        if not path.startswith("/"):
            problems.append(f"path {path!r} does not start with /")
        operations = [(m, op) for m, op in item.items() if m in METHODS]
        if not operations or set(item) - set(METHODS) - {"summary", "description", "servers",
                                                          "parameters"}:
            problems.append(f"{path}: no operation, or an unknown key")
        for method, op in operations:
            where = f"{method.upper()} {path}"
            for requirement in op.get("security", doc.get("security", [])):
                problems += [f"{where}: security names undefined scheme {n!r}"
                             for n in requirement if n not in schemes]
            for parameter in op.get("parameters", []):
                if parameter.get("in") not in ("query", "header", "path", "cookie") or \
                        "name" not in parameter or "schema" not in parameter:
                    problems.append(f"{where}: bad parameter {parameter}")
            body = op.get("requestBody")
            if body is not None and not body.get("content"):
                problems.append(f"{where}: a requestBody needs content")
            responses = op.get("responses", {})
            if not responses:
                problems.append(f"{where}: no responses")
            for status, response in responses.items():
                if not _STATUS.fullmatch(status):
                    problems.append(f"{where}: {status!r} is no status code")
                if not isinstance(response.get("description"), str):
                    problems.append(f"{where} {status}: a response needs a description")
                for header, spec in response.get("headers", {}).items():
                    if "schema" not in spec and "content" not in spec:
                        problems.append(f"{where} {status} {header}: no schema")
    for ref in set(_refs(doc)):
        try:
            resolve(doc, ref)
        except (AssertionError, KeyError, TypeError):
            problems.append(f"unresolved $ref {ref}")
    return problems


def check_answer(doc: Mapping[str, Any], method: str, path: str,
                 answer: httpx.Response) -> Mapping[str, Any]:
    """Assert that `answer` is declared for the operation: its status, a content type the
    status declares, a body valid against that schema, the headers it requires. Returns
    the response object."""
    operation = doc["paths"][path][method.lower()]
    status = str(answer.status_code)
    assert status in operation["responses"], (
        f"{method} {path}: {status} is not declared ({sorted(operation['responses'])})")
    response = operation["responses"][status]
    media = answer.headers.get("content-type", "").split(";")[0].strip()
    content = response.get("content", {})
    assert media in content, f"{method} {path} {status}: {media!r} not declared ({list(content)})"
    schema = content[media]["schema"]
    body = answer.json() if media == "application/json" else answer.text
    schema_validator(doc, schema)(body)  # raises JsonSchemaValueException, naming the field
    for name, spec in response.get("headers", {}).items():
        if spec.get("required"):
            assert name in answer.headers, f"{method} {path} {status}: no {name} header"
        if name in answer.headers:
            value: Any = answer.headers[name]
            if spec["schema"].get("type") == "integer":
                value = int(value)
            schema_validator(doc, spec["schema"])(value)
    return response
