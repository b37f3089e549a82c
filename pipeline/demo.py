"""`make run`'s demonstration: post the built-in samples, show what lands on each topic.

It signs each post when the edge has CXR_EDGE_AUTH on, and reports what happened: a sample
answered otherwise than expected (401, 503…) is shown with its status and error, is not
looked for on the topics, and makes the demo fail, as does an event that does not arrive.
"""

from __future__ import annotations

import asyncio

import httpx
import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cxone_router.kafka.clients import Connection
from cxone_router.kafka.reader import TopicReader
from cxone_router.kafka.topics import Topics
from cxone_router.samples import Sample, demo_samples
from cxone_router.settings import Settings
from cxone_router.signing import Signer, signer_for

ARRIVAL_TIMEOUT = 30.0


def _detail(response: httpx.Response) -> str:
    """The event id of a 202, else the edge's error text (or the start of the body)."""
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text.strip()[:80]
    if isinstance(answer, dict):
        return str(answer.get("eventId") or answer.get("error") or answer)[:80]
    return str(answer)[:80]


async def _post(client: httpx.AsyncClient, url: str, sample: Sample,
                signer: Signer | None) -> tuple[int | None, str]:
    headers = {"content-type": sample.content_type}
    if signer is not None:
        headers.update(signer.headers(sample.body))
    try:
        response = await client.post(url, content=sample.body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"no answer: {type(exc).__name__} {exc}"[:80]
    return response.status_code, _detail(response)


async def run_demo(edge_url: str, kafka: Connection, topics: Topics, console: Console,
                   signer: Signer | None = None) -> bool:
    """Post the samples (signed by `signer` when given) and show where they landed. True
    when every sample was answered as expected and every accepted event arrived."""
    samples = demo_samples()
    sent = Table(title="1. Webhooks posted to the edge", show_lines=False)
    for column in ("sample", "content type", "answer"):
        sent.add_column(column)
    accepted: list[Sample] = []
    wrong: list[str] = []  # samples answered otherwise than expected
    async with httpx.AsyncClient(timeout=10) as client:
        for sample in samples:
            status, detail = await _post(client, f"{edge_url}/webhooks/cxone", sample, signer)
            expected = 400 if sample.expect == "rejected" else 202
            if status == 202:
                accepted.append(sample)
            answer = f"{status if status is not None else '-'} {detail}"
            if status != expected:
                wrong.append(f"{sample.label!r}: {answer} (expected {expected})")
                answer = f"[red]{escape(answer)} (expected {expected})[/]"
            else:
                answer = escape(answer)
            sent.add_row(sample.label, sample.content_type.split("/")[1], answer)
    console.print(sent)

    # only what the edge accepted can arrive
    expected_channel = len({s.body for s in accepted if s.expect in topics.channels})
    expected_dlq = sum(1 for s in accepted if s.expect == "dlq")
    if not accepted:
        console.print("[bold red]The edge accepted none of the demo's webhooks[/], so none "
                      "can arrive on the topics.")
        _report_failures(console, wrong, [])
        return False
    names = [*(topics.channel(c) for c in topics.channels),
             *(topics.fanout(r) for r in topics.routes), topics.dlq]
    async with TopicReader(kafka, names) as reader:
        def arrived(records: list[object]) -> bool:
            on_channels = sum(1 for r in reader.records if ".interactions." in r.topic)
            return on_channels >= expected_channel and len(reader.on(topics.dlq)) >= expected_dlq

        await reader.read_until(arrived, timeout=ARRIVAL_TIMEOUT)
        on_channels = sum(1 for r in reader.records if ".interactions." in r.topic)
        on_dlq = len(reader.on(topics.dlq))
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
    missing = []
    if on_channels < expected_channel:
        missing.append(f"{on_channels} of the {expected_channel} accepted distinct events "
                       f"arrived on the channel topics within {ARRIVAL_TIMEOUT:g} s")
    if on_dlq < expected_dlq:
        missing.append(f"{on_dlq} of the {expected_dlq} expected dead letters arrived "
                       f"within {ARRIVAL_TIMEOUT:g} s")
    if wrong or missing:
        _report_failures(console, wrong, missing)
        return False
    console.print(f"[bold]{expected_channel}[/] distinct events sent (plus one redelivery, "
                  "one malformed): each arrives once on its channel topic; the malformed one "
                  "was refused with 400 and the unknown channel is in the dead-letter topic.")
    return True


def _report_failures(console: Console, wrong: list[str], missing: list[str]) -> None:
    console.print("[bold red]The demo did not go as expected:[/]")
    for line in [*wrong, *missing]:
        console.print(f"  - {line}", markup=False)
    if any(": 401 " in line for line in wrong):
        console.print("  The edge refused the demo's credentials: the demo signs with the "
                      "CXR_EDGE_AUTH settings it runs with; they must match the edge's.")


def demo(edge_url: str, kafka: Connection, topics: Topics, *, settings: Settings | None = None,
         console: Console | None = None) -> bool:
    """Run the demo, signing as `settings` say (CXR_EDGE_AUTH); True when it all went as
    expected."""
    signer = signer_for(settings) if settings is not None else None
    return asyncio.run(run_demo(edge_url, kafka, topics, console or Console(), signer))
