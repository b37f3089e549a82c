"""`make run`'s demonstration: post the built-in samples, show what lands on each topic."""

from __future__ import annotations

import asyncio

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from pipeline.kafka.reader import TopicReader
from pipeline.kafka.topics import Topics
from pipeline.samples import demo_samples


async def run_demo(edge_url: str, bootstrap: str, topics: Topics, console: Console) -> None:
    samples = demo_samples()
    sent = Table(title="1. Webhooks posted to the edge", show_lines=False)
    for column in ("sample", "content type", "answer"):
        sent.add_column(column)
    async with httpx.AsyncClient(timeout=10) as client:
        for sample in samples:
            response = await client.post(f"{edge_url}/webhooks/cxone", content=sample.body,
                                          headers={"content-type": sample.content_type})
            answer = response.json()
            sent.add_row(sample.label, sample.content_type.split("/")[1],
                         f"{response.status_code} {answer.get('eventId') or answer.get('error')}")
    console.print(sent)

    expected_channel = len({s.body for s in samples if s.expect in topics.channels})
    expected_dlq = sum(1 for s in samples if s.expect == "dlq")
    names = [*(topics.channel(c) for c in topics.channels),
             *(topics.fanout(r) for r in topics.routes), topics.dlq]
    async with TopicReader(bootstrap, names) as reader:
        def arrived(records: list[object]) -> bool:
            on_channels = sum(1 for r in reader.records if ".interactions." in r.topic)
            return on_channels >= expected_channel and len(reader.on(topics.dlq)) >= expected_dlq

        await reader.read_until(arrived, timeout=30)
    landed = Table(title="2. What arrived on the topics")
    for column in ("topic", "key", "summary"):
        landed.add_column(column, overflow="fold")
    for record in sorted(reader.records, key=lambda r: (names.index(r.topic), r.timestamp)):
        if record.topic == topics.dlq:
            why = dict(record.headers)
            summary = (f"reason={why.get('cxr-dlq-reason', b'').decode()} "
                       f"error={why.get('cxr-dlq-error-message', b'').decode()[:60]}")
        else:
            value = orjson.loads(record.value)
            summary = (f"{value['channel']} {value['eventType']} dir={value['direction']} "
                       f"customer={value['customer']['identifier']} "
                       f"missing={value['missingFields']}")
        landed.add_row(record.topic, (record.key or b"").decode()[:24], summary)
    console.print(landed)
    console.print(f"[bold]{expected_channel}[/] distinct events sent (plus one redelivery, "
                  "one malformed): each arrives once on its channel topic; the malformed one "
                  "was refused with 400 and the unknown channel is in the dead-letter topic.")


def demo(edge_url: str, bootstrap: str, topics: Topics) -> None:
    asyncio.run(run_demo(edge_url, bootstrap, topics, Console()))
