"""Dead letters as operators see them: what failed, grouped by reason and stage, selected
by reason, time, key, position or id, and what a replay sends back to the raw topic.

Pure functions over `Record`s: the commands (dlq_cli) read the topic and send."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cxone_router.dlq import Reason
from cxone_router.kafka.headers import (
    DLQ_ATTEMPT,
    DLQ_BODY_OMITTED,
    DLQ_PREFIX,
    REPLAYED_FROM,
    REQUEST_ID,
    Headers,
)
from cxone_router.ops.records import Record
from cxone_router.ops.times import iso, parse_iso, utc_iso

_POSITION = re.compile(r"\s*(\d+)\s*:\s*(\d+)\s*")


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class DeadLetter:
    """A record of the dead-letter topic, read through its `cxr-dlq-*` headers."""

    record: Record

    def _dlq(self, name: str) -> str | None:
        return self.record.header(DLQ_PREFIX + name)

    @property
    def reason(self) -> str:
        return self._dlq("reason") or "unknown"

    @property
    def stage(self) -> str:
        return self._dlq("stage") or "unknown"

    @property
    def error_class(self) -> str | None:
        return self._dlq("error-class")

    @property
    def error_message(self) -> str | None:
        return self._dlq("error-message")

    @property
    def attempt(self) -> int:
        try:
            return int(self.record.header(DLQ_ATTEMPT) or 0)
        except ValueError:
            return 0

    @property
    def failed_at(self) -> datetime | None:
        """`cxr-dlq-failed-at`, else the record's timestamp."""
        when = parse_iso(self._dlq("failed-at"))
        if when is None and self.record.timestamp_ms >= 0:
            when = parse_iso(iso(self.record.timestamp_ms))
        return when

    @property
    def source(self) -> str | None:
        """Where the original is: `topic:partition:offset`."""
        parts = [self._dlq("source-topic"), self._dlq("source-partition"),
                 self._dlq("source-offset")]
        return ":".join(parts) if all(parts) else None  # type: ignore[arg-type]

    @property
    def body_omitted(self) -> str | None:
        """The error class that made the DLQ refuse the body (the value is empty)."""
        return self.record.header(DLQ_BODY_OMITTED)

    @property
    def request_id(self) -> str | None:
        return self.record.header(REQUEST_ID)

    @property
    def position(self) -> str:
        return self.record.position

    @property
    def here(self) -> str:
        """This dead letter's own place: `topic:partition:offset`."""
        return f"{self.record.topic}:{self.record.partition}:{self.record.offset}"


def parse_positions(values: Iterable[str]) -> frozenset[tuple[int, int]]:
    """`P:O[,P:O...]` (the option may repeat) -> {(partition, offset)}."""
    found: set[tuple[int, int]] = set()
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            match = _POSITION.fullmatch(part)
            if match is None:
                raise SelectorError(f"{part.strip()!r} is not PARTITION:OFFSET (e.g. 3:1042)")
            found.add((int(match[1]), int(match[2])))
    return frozenset(found)


def parse_position(value: str) -> tuple[int, int] | None:
    """`P:O` -> (partition, offset); None when `value` is not of that form."""
    match = _POSITION.fullmatch(value)
    return (int(match[1]), int(match[2])) if match else None


def parse_list(values: Iterable[str]) -> frozenset[str]:
    """Comma-separated values (the option may repeat)."""
    return frozenset(v.strip() for value in values for v in value.split(",") if v.strip())


def parse_reasons(values: Iterable[str]) -> frozenset[str]:
    reasons = parse_list(values)
    unknown = sorted(reasons - set(Reason))
    if unknown:
        raise SelectorError(f"unknown reason {', '.join(unknown)}: choose from "
                            f"{', '.join(Reason)}")
    return reasons


@dataclass(frozen=True)
class Selector:
    """Which dead letters: every criterion given must hold (several values of one
    criterion: any of them)."""

    reasons: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    key: bytes | None = None
    positions: frozenset[tuple[int, int]] = frozenset()
    ids: frozenset[str] = frozenset()  # request ids (cxr-request-id) or event ids

    @property
    def everything(self) -> bool:
        return not (self.reasons or self.since or self.until or self.key is not None
                    or self.positions or self.ids)

    def matches(self, letter: DeadLetter,
                event_id: Callable[[DeadLetter], str | None] | None = None) -> bool:
        if self.reasons and letter.reason not in self.reasons:
            return False
        if self.key is not None and letter.record.key != self.key:
            return False
        if self.positions and (letter.record.partition, letter.record.offset) \
                not in self.positions:
            return False
        if self.since or self.until:
            when = letter.failed_at
            if when is None or (self.since and when < self.since) or \
                    (self.until and when >= self.until):
                return False
        if self.ids:
            if letter.request_id in self.ids:
                return True
            return event_id is not None and event_id(letter) in self.ids
        return True


@dataclass
class Group:
    reason: str
    stage: str
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    example: DeadLetter | None = None  # the latest

    def add(self, letter: DeadLetter) -> None:
        self.count += 1
        when = letter.failed_at
        if when is not None:
            if self.first_seen is None or when < self.first_seen:
                self.first_seen = when
            if self.last_seen is None or when >= self.last_seen:
                self.last_seen = when
                self.example = letter
        if self.example is None:
            self.example = letter

    def to_json(self) -> dict[str, Any]:
        example = self.example
        return {
            "reason": self.reason, "stage": self.stage, "count": self.count,
            "first_seen": _iso(self.first_seen), "last_seen": _iso(self.last_seen),
            "example": None if example is None else {
                "partition": example.record.partition, "offset": example.record.offset,
                "request_id": example.request_id,
                "key": None if example.record.key is None
                else example.record.key.decode("utf-8", "replace"),
                "error": example.error_message,
            },
        }


def _iso(when: datetime | None) -> str | None:
    return None if when is None else utc_iso(when)


def group(letters: Iterable[DeadLetter]) -> list[Group]:
    """By (reason, stage): the largest group first, then by reason."""
    groups: dict[tuple[str, str], Group] = {}
    for letter in letters:
        key = (letter.reason, letter.stage)
        if key not in groups:
            groups[key] = Group(*key)
        groups[key].add(letter)
    return sorted(groups.values(), key=lambda g: (-g.count, g.reason, g.stage))


# --- replay --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Replay:
    """What goes back to the raw topic for one dead letter."""

    letter: DeadLetter
    key: bytes | None
    value: bytes
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True)
class Skip:
    letter: DeadLetter
    why: str


def replay_headers(letter: DeadLetter) -> Headers:
    """The original request's headers (content-type, cxr-received-ns, cxr-request-id…),
    without the dead letter's reasons and an earlier replay's origin; then the attempt the
    dead letter counted (the next dead letter of this event counts one more) and where
    this replay comes from."""
    kept = [(k, v) for k, v in letter.record.headers
            if not k.startswith(DLQ_PREFIX) and k != REPLAYED_FROM]
    return [*kept, (DLQ_ATTEMPT, str(letter.attempt).encode()),
            (REPLAYED_FROM, letter.here.encode())]


def plan(letters: Iterable[DeadLetter], max_attempts: int,
         superseded: Mapping[str, DeadLetter] | None = None,
         ) -> tuple[list[Replay], list[Skip]]:
    """Which dead letters go back, and why the others do not: a bodiless one (the original
    is at its source position), one that has been tried `max_attempts` times, and one
    already replayed that failed again (`superseded`: its place -> the later dead letter;
    that one is the one to replay, so the attempts keep counting)."""
    replays: list[Replay] = []
    skips: list[Skip] = []
    for letter in letters:
        later = (superseded or {}).get(letter.here)
        if later is not None:
            skips.append(Skip(letter, f"replayed already, and dead-lettered again as "
                                      f"{later.position} (attempt {later.attempt}): "
                                      f"replay that one"))
        elif letter.body_omitted is not None:
            skips.append(Skip(letter, f"no body (the DLQ refused it: {letter.body_omitted}); "
                                      f"the original is at {letter.source or 'an unknown place'}"))
        elif letter.attempt >= max_attempts:
            skips.append(Skip(letter, f"attempt {letter.attempt} reached the maximum "
                                      f"(CXR_DLQ_MAX_ATTEMPTS={max_attempts})"))
        else:
            replays.append(Replay(letter, letter.record.key, letter.record.value or b"",
                                  replay_headers(letter)))
    return replays, skips
