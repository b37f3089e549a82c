"""Reading the dead-letter topic for a selector, and sending replays to the raw topic."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from cxone_router.errors import CxoneRouterError
from cxone_router.kafka.headers import REPLAYED_FROM
from cxone_router.ops.dlq import DeadLetter, Replay, Selector
from cxone_router.ops.records import Query, Start, partitions_of, read
from cxone_router.ops.times import to_ms

# Dead letters are read from a little before --since: a record's timestamp is taken when
# it is sent, after its `cxr-dlq-failed-at`, and hosts' clocks differ a little.
SINCE_MARGIN = timedelta(minutes=5)


class MissingDlqError(CxoneRouterError):
    pass


def query_for(selector: Selector) -> Query:
    """Read only what the selector can match: from --since, the partitions of --offsets,
    the key of --key."""
    start = Start() if selector.since is None else \
        Start("time", to_ms(selector.since - SINCE_MARGIN))
    partitions = tuple(sorted({p for p, _ in selector.positions})) or None
    return Query(start, partitions, selector.key)


@dataclass
class Found:
    letters: list[DeadLetter]  # the selected ones, in partition and offset order
    # a dead letter's place (topic:partition:offset) -> the later dead letter of its replay
    superseded: dict[str, DeadLetter] = field(default_factory=dict)


async def dead_letters(consumer: AIOKafkaConsumer, dlq: str, selector: Selector,
                       event_id: Callable[[DeadLetter], str | None] | None = None,
                       ) -> Found:
    """The selected dead letters, and which of those read were replayed and failed again
    (a later dead letter names them in cxr-replayed-from: same key, so same partition,
    and later, so read too)."""
    if await partitions_of(consumer, dlq) is None:
        raise MissingDlqError(f"the dead-letter topic {dlq} does not exist on this broker: "
                              "run `cxone-router topics` (or check CXR_TOPIC_PREFIX)")
    found = Found([])
    async for record in read(consumer, dlq, query_for(selector)):
        letter = DeadLetter(record)
        if (origin := record.header(REPLAYED_FROM)) is not None:
            found.superseded[origin] = letter
        if selector.matches(letter, event_id):
            found.letters.append(letter)
    found.letters.sort(key=lambda d: (d.record.partition, d.record.offset))
    return found


async def send(producer: AIOKafkaProducer, topic: str, replays: Sequence[Replay],
               sent: Callable[[], None] = lambda: None,
               ) -> tuple[list[tuple[Replay, Any]], list[tuple[Replay, BaseException]]]:
    """Send each replay (acks=all, the producer's); returns (replay, RecordMetadata) for
    those the broker acknowledged and (replay, error) for the others."""
    pending = []
    failed: list[tuple[Replay, BaseException]] = []
    for replay in replays:
        try:
            pending.append((replay, await producer.send(
                topic, replay.value, key=replay.key, headers=replay.headers)))
        except KafkaError as exc:
            failed.append((replay, exc))
            sent()
    done = []
    for replay, future in pending:
        try:
            done.append((replay, await future))
        except KafkaError as exc:
            failed.append((replay, exc))
        sent()
    return done, failed
