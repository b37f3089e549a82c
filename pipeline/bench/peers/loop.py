"""Candidate (c): the job as a plain asyncio loop on aiokafka.

    python -m cxone_router.bench.peers.loop --raw-topic T --group G

`getmany` up to 500 records, dedup in a dict, send every output of the batch, gather
the acks, then commit the batch's offsets: an offset is committed only after everything
its event produced was acknowledged (at-least-once). A write that fails stops the loop
with an error, uncommitted. Settings come from the CXR_* environment, as a worker's do.
Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import TopicPartition

from cxone_router.bench.peers.job import Job
from cxone_router.kafka.clients import Connection, producer_config
from cxone_router.settings import Settings, load_settings

BATCH = 500


def producer_options(settings: Settings) -> dict[str, Any]:
    """The worker's producer (agents/app.py): acks=all, idempotent, linger 1 ms, the
    record limit; no compression."""
    return {**producer_config(settings), "enable_idempotence": True, "linger_ms": 1,
            "compression_type": None}


async def run(raw_topic: str, group: str) -> None:
    settings = load_settings()
    kafka = Connection.of(settings)
    job = Job(settings)
    ttl_ms = job.ttl_ms
    consumer = kafka.consumer(raw_topic, group_id=group, enable_auto_commit=False,
                              auto_offset_reset="earliest")
    producer = kafka.producer(**producer_options(settings))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    seen: dict[str, int] = {}
    await producer.start()
    await consumer.start()
    try:
        while not stopping.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            if not batch:
                continue
            now_ms = int(time.time() * 1000)
            marks: list[str] = []
            in_batch: set[str] = set()

            def is_seen(key: str, now_ms: int = now_ms, in_batch: set[str] = in_batch) -> bool:
                seen_at = seen.get(key)
                return key in in_batch or (seen_at is not None and now_ms - seen_at < ttl_ms)

            sends = []
            commits: dict[TopicPartition, int] = {}
            for tp, records in batch.items():
                for r in records:
                    mark, outputs = job.handle(r.topic, r.partition, r.offset, r.key, r.value,
                                               r.headers, is_seen)
                    if mark is not None:
                        in_batch.add(mark)
                        marks.append(mark)
                    for o in outputs:
                        sends.append(await producer.send(o.topic, o.value, key=o.key,
                                                         headers=o.headers))
                commits[tp] = records[-1].offset + 1
            await asyncio.gather(*sends)
            for mark in marks:
                seen[mark] = now_ms
            await consumer.commit(commits)
    finally:
        await consumer.stop()
        await producer.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cxone_router.bench.peers.loop")
    parser.add_argument("--raw-topic", required=True)
    parser.add_argument("--group", required=True)
    args = parser.parse_args(argv)
    # the standard event loop, as the Faust worker runs on (`aio`, Faust's default)
    asyncio.run(run(args.raw_topic, args.group))


if __name__ == "__main__":
    main()
