"""A downstream consumer of cxone-router's topics, to copy: replace `handle` with your own.

    python consumer.py --bootstrap kafka-1:9092 --group crm-loader --topic cxone.fanout.crm-sync

What it does, and why (docs/consumers.md says more):

- reads with `isolation_level="read_committed"`: the pipeline writes its records in
  Kafka transactions, and the default, read_uncommitted, also returns the writes of
  aborted ones (records you would then see twice);
- commits a partition's offset only after `handle` returned for every record before it:
  a consumer that crashes sees its last records again, never loses one;
- keys by `interactionId` (the Kafka key, so one interaction's records come in order on
  one partition) and upserts by `idempotencyKey`, so a record seen twice (at least once,
  a restart of this consumer, `cxone-router reprocess`) replaces itself;
- reads the fields it needs and ignores the rest: interaction.v1 may gain optional fields.

It needs only aiokafka. It prints one JSON line per record it handles (topic, partition,
offset, key, headers, record) and stops cleanly on SIGTERM or Ctrl-C (the last offsets
committed, the group left at once). On a secured cluster, pass aiokafka's
`security_protocol`, `sasl_mechanism`, `sasl_plain_username`, `sasl_plain_password` and
`ssl_context` to `AIOKafkaConsumer` (docs/consumers.md, Connecting)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer

SCHEMA_VERSION = 1  # interaction.v1: a v2 comes on topics of its own


@dataclass(frozen=True)
class Event:
    """One record of a channel or fan-out topic, decoded."""

    topic: str
    partition: int
    offset: int
    key: str  # the interactionId
    headers: dict[str, str]  # the last value of each header name wins
    record: dict[str, Any]  # the normalized record (schemas/interaction.v1.json)

    @classmethod
    def of(cls, message: Any) -> Event:
        return cls(message.topic, message.partition, message.offset, message.key.decode(),
                   {name: value.decode() for name, value in message.headers},
                   json.loads(message.value))


class Store:
    """Stand-in for your database: the latest record of each event, by idempotencyKey."""

    def __init__(self) -> None:
        self.events: dict[str, Event] = {}

    def upsert(self, event: Event) -> None:
        # Records of one interaction arrive in order, so the later one wins; a record
        # rewritten by `cxone-router reprocess` (header cxr-reprocessed) comes after the
        # original too. Reading several topics into one store, prefer a cxr-reprocessed
        # record over one without.
        self.events[event.record["idempotencyKey"]] = event


def handle(event: Event, store: Store) -> None:
    """Your code goes here. This one checks the contract, keeps the event and prints it."""
    record = event.record
    if record.get("schemaVersion") != SCHEMA_VERSION:
        print(f"skipped {event.topic}:{event.partition}:{event.offset}: schemaVersion "
              f"{record.get('schemaVersion')!r}", file=sys.stderr)
        return
    store.upsert(event)
    print(json.dumps({"topic": event.topic, "partition": event.partition,
                      "offset": event.offset, "key": event.key, "headers": event.headers,
                      "record": record}), flush=True)


async def consume(bootstrap: str, topics: list[str], group: str, stop: asyncio.Event,
                  store: Store) -> None:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        isolation_level="read_committed",  # never the writes of aborted transactions
        enable_auto_commit=False,  # committed below, once handled
        auto_offset_reset="earliest",  # a new group starts from the oldest record kept
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batches.values():
                for message in records:
                    handle(Event.of(message), store)
            if batches:
                await consumer.commit()  # the offsets of what getmany returned: all handled
    finally:
        await consumer.stop()  # leaves the group: its partitions move at once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bootstrap", required=True, help="host:port[,host:port]")
    parser.add_argument("--topic", action="append", required=True,
                        help="a topic to read, e.g. cxone.fanout.analytics (repeatable)")
    parser.add_argument("--group", required=True, help="your consumer group")
    args = parser.parse_args()

    async def run() -> None:
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await consume(args.bootstrap, args.topic, args.group, stop, Store())

    asyncio.run(run())


if __name__ == "__main__":
    main()
