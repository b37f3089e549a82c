"""Records as JSON lines (for scripts) or as text for people (rich)."""

from __future__ import annotations

from typing import Any

import orjson
from rich.console import Group, RenderableType
from rich.json import JSON
from rich.text import Text

from cxone_router.ops.records import Record


def text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")


def value_of(data: bytes | None) -> Any:
    """The value as JSON when it parses, else as a string (UTF-8 with replacement)."""
    if data is None:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode("utf-8", "replace")


def headers_of(record: Record) -> dict[str, Any]:
    """Headers by name, decoded as UTF-8 with replacement; a name that repeats gets a list
    of its values, in order."""
    out: dict[str, Any] = {}
    for name, raw in record.headers:
        value = raw.decode("utf-8", "replace") if raw is not None else None
        if name not in out:
            out[name] = value
        elif isinstance(out[name], list):
            out[name].append(value)
        else:
            out[name] = [out[name], value]
    return out


def to_json(record: Record) -> dict[str, Any]:
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "key": text(record.key),
        "headers": headers_of(record),
        "value": value_of(record.value),
    }


def json_line(data: Any) -> bytes:
    return orjson.dumps(data) + b"\n"


def title(record: Record) -> Text:
    line = Text()
    line.append(f"{record.topic}", style="bold cyan")
    line.append(f" [{record.partition}] @{record.offset}", style="bold")
    line.append(f"  {record.timestamp or 'no timestamp'}", style="dim")
    line.append("  key ", style="dim")
    line.append(text(record.key) or "(none)", style="yellow")
    return line


def body(data: bytes | None) -> RenderableType:
    """A value: indented when it is JSON, else as it is (escaped: no markup runs)."""
    if data is None:
        return Text("(no value)", style="dim")
    if not data:
        return Text("(empty value)", style="dim")
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return Text(data.decode("utf-8", "replace"))
    return JSON(data.decode("utf-8", "replace"), indent=2, highlight=True)


def pretty(record: Record, show_headers: bool = True) -> RenderableType:
    parts: list[RenderableType] = [title(record)]
    if show_headers and record.headers:
        heads = Text(style="dim")
        for i, (name, value) in enumerate(headers_of(record).items()):
            heads.append(("\n" if i else "") + f"  {name}: {value}")
        parts.append(heads)
    parts.append(body(record.value))
    parts.append(Text(""))
    return Group(*parts)

