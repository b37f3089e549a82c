"""Times on the command line: ISO-8601 (no offset = UTC) or relative to now (`10m` ago)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNIT = r"(sec|min|s|m|h|d|w)"  # the longer names first: "10min" is not "10m" + "in"
_AGE = re.compile(rf"(?:\d+(?:\.\d+)?{_UNIT})+", re.IGNORECASE)
_AGE_PART = re.compile(rf"(\d+(?:\.\d+)?){_UNIT}", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}
FORMS = "an ISO-8601 time (2024-05-01T12:00:00Z; no offset = UTC) or an age such as 30s, " \
        "10m, 2h, 1d, 1w, 1h30m"


class TimeFormatError(ValueError):
    pass


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An aware UTC datetime for `text`: ISO-8601, or an age (`10m` = ten minutes ago)."""
    text = text.strip()
    now = now or datetime.now(UTC)
    if _AGE.fullmatch(age := re.sub(r"\s+", "", text)):
        seconds = sum(float(n) * _UNITS[unit.lower()] for n, unit in _AGE_PART.findall(age))
        return now - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise TimeFormatError(f"{text!r} is not a time: use {FORMS}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def to_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def utc_iso(when: datetime, timespec: str = "milliseconds") -> str:
    """An aware time as ISO-8601 UTC with a `Z` (`2024-05-01T12:00:00.000Z`): the form of
    every time the pipeline writes (records, headers, summaries)."""
    return when.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def iso(ms: int | None) -> str | None:
    """Milliseconds since the epoch as ISO-8601 UTC (`...T12:00:00.000Z`); None for none."""
    if ms is None or ms < 0:
        return None
    return utc_iso(datetime.fromtimestamp(ms / 1000, UTC))


def parse_iso(text: str | None) -> datetime | None:
    """A header's ISO-8601 time (`cxr-dlq-failed-at`), or None when it is not one."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
