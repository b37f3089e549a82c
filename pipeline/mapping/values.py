"""Coercions applied to a resolved value: `string` (default), `timestamp`, `any`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_EPOCH_MS_THRESHOLD = 10_000_000_000  # numbers above this are milliseconds
_MAX_EPOCH_DIGITS = 20  # 253402300799999 ms is 9999-12-31: anything longer is no timestamp


def as_string(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None  # objects and lists are not scalars


def as_timestamp(value: Any) -> str | None:
    """ISO-8601 with any offset, or epoch seconds/ms, as ISO-8601 UTC with milliseconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > _EPOCH_MS_THRESHOLD else value
        try:
            moment = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):  # 1e20, nan, inf: like unparseable text
            return None
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():  # not "²" or "٣", which isdigit() also takes
            if len(text) > _MAX_EPOCH_DIGITS:  # past year 9999 anyway; int() refuses 4300+
                return None
            return as_timestamp(int(text))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # CXone's *Utc fields carry no offset
    else:
        return None
    try:  # 0001-01-01T00:00+14:00 and 9999-12-31T23:59-23:59 are out of range in UTC
        utc = moment.astimezone(UTC)
    except OverflowError:
        return None
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_any(value: Any) -> Any:
    return value


COERCIONS = {"string": as_string, "timestamp": as_timestamp, "any": as_any}


def ns_to_iso(ns: int) -> str:
    moment = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
