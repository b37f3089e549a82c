"""Coercions applied to a resolved value: `string` (default), `timestamp`, `any`."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from cxone_router.ops.times import utc_iso

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
        return utc_iso(moment)
    except OverflowError:
        return None


def as_any(value: Any) -> Any:
    return value


COERCIONS = {"string": as_string, "timestamp": as_timestamp, "any": as_any}


def _ns_to_iso(ns: int) -> str:
    """The reference: what `ns_to_iso` returns, for any `ns`."""
    return utc_iso(datetime.fromtimestamp(ns / 1e9, tz=UTC))


_FAST_NS_BELOW = 4_102_444_800 * 10**9  # 2100-01-01: past it, and below 1970, the reference
_second: tuple[int, str] = (-1, "")  # the last whole second seen and its text (one tuple:
# a reader sees both halves of one write)


def ns_to_iso(ns: int) -> str:
    """ISO-8601 UTC with milliseconds, as `datetime.fromtimestamp(ns / 1e9, tz=UTC)` gives
    it: the same float, split and rounded to microseconds as CPython does (the fraction
    times 1e6, rounded half to even, a carry into the second), the milliseconds truncated;
    the date and time of the second once per second, not per event."""
    global _second
    if type(ns) is not int or not 0 <= ns < _FAST_NS_BELOW:
        return _ns_to_iso(ns)
    fraction, whole = math.modf(ns / 1e9)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros -= 1_000_000
        whole += 1.0
    second = int(whole)
    cached = _second
    if cached[0] == second:
        text = cached[1]
    else:
        text = datetime.fromtimestamp(second, tz=UTC).isoformat(timespec="seconds")[:-6]
        _second = (second, text)
    return f"{text}.{micros // 1000:03d}Z"
