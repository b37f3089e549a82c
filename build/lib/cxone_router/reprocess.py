"""`cxone-router reprocess`: the raw topic's records of a time range, normalized again with
the current mappings and written to the channel and fan-out topics.

The same code as the worker turns a raw record into its outputs (`agents.outputs`: decode,
normalize, route, redact per route under `CXR_REDACTION_KEY`), so a reprocessed record is
what a worker on these mappings writes, plus one header: `cxr-reprocessed` (the run's
start, ISO-8601 UTC). Every record carries `mappingVersion` and `cxr-mapping-version`.

The dedup table is bypassed on purpose: the events were written before, and consumers
upsert by `idempotencyKey`. Within one run an event is written once (a redelivery in the
range is skipped, as the worker skipped it). An event that fails to normalize is counted
and reported with its reason, not dead-lettered again: the worker dead-lettered it when it
first came, and `dlq replay` is the way to send it through again.

The range is by the raw records' timestamps (the edge's produce time): `--since` included,
`--until` (default: the run's start) excluded. The broker's time index finds where to start
in each partition; a broker without one (the embedded broker answers offset 0) is read
from the beginning, and records outside the range are skipped either way. Each partition
is read up to its end offset at the start of the run, and on past it while records are
older than `--until` (a broker that reports end offsets low, the embedded one, still gives
all of them)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console

from cxone_router.dlq import Reason, channel_of, reason_of
from cxone_router.errors import ConfigurationError, CxoneRouterError
from cxone_router.kafka.headers import MAPPING_VERSION, REPROCESSED, as_dict
from cxone_router.ops import times
from cxone_router.ops.times import to_ms, utc_iso
from cxone_router.settings import Settings, load_command_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cxone_router.agents.delivery import Output
    from cxone_router.agents.fanout import Fanout
    from cxone_router.kafka.clients import Connection
    from cxone_router.kafka.topics import Topics
    from cxone_router.ops.records import Record
    from cxone_router.routing import Route

log = logging.getLogger(__name__)

SEND_CHUNK = 1000  # outputs in flight before the run waits for the broker's acks
PROGRESS_FROM = 1000  # records: a progress bar on a terminal from this many on


Sent = tuple[Any, str, str]  # (the ack's future, topic, where the event is on the raw topic)


class ReprocessError(CxoneRouterError):
    """The range is invalid or empty, the topic is missing, or a write failed."""


def parse_range(since: str, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[since, until) in UTC; `until` is at most (and by default) `now`. Refuses an empty
    range and one that starts in the future."""
    start = _time(since, now, "--since")
    # not past `now`: records that arrive during the run stay out of it
    end = min(_time(until, now, "--until"), now) if until is not None else now
    if start >= now:
        raise ReprocessError(f"--since {since!r} is {utc_iso(start)}, not in the past")
    if start >= end:
        raise ReprocessError(f"the range is empty: --since {utc_iso(start)} is not before "
                             f"--until {utc_iso(end)}")
    return start, end


def _time(text: str, now: datetime, option: str) -> datetime:
    try:
        return times.parse_time(text, now)
    except times.TimeFormatError as exc:
        raise ReprocessError(f"{option} {exc}") from None


@dataclass
class Summary:
    """What a run read and wrote (or, dry, would write)."""

    topic: str
    since: datetime
    until: datetime
    reprocessed_at: str
    mapping_version: str
    channel: str | None
    dry_run: bool
    read: int = 0  # records read from the raw topic, in the range or not
    in_range: int = 0
    duplicates: int = 0  # a second record of an idempotency key within the run
    other_channel: int = 0  # normalized, but not `channel`
    events: Counter[str] = field(default_factory=Counter)  # by channel
    failed: Counter[str] = field(default_factory=Counter)  # by dead-letter reason
    examples: dict[str, str] = field(default_factory=dict)  # reason -> the first failure
    records: Counter[str] = field(default_factory=Counter)  # by topic

    def fail(self, reason: Reason, where: str, error: BaseException) -> None:
        name = reason.value  # a plain str: orjson takes no str subclass as a key
        self.failed[name] += 1
        self.examples.setdefault(name, f"{where}: {type(error).__name__}: {error}"[:300])

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic, "since": utc_iso(self.since), "until": utc_iso(self.until),
            "reprocessedAt": self.reprocessed_at, "mappingVersion": self.mapping_version,
            "channel": self.channel, "dryRun": self.dry_run, "read": self.read,
            "inRange": self.in_range, "duplicates": self.duplicates,
            "otherChannel": self.other_channel, "events": dict(self.events),
            "failed": dict(self.failed), "failedExamples": self.examples,
            "records": dict(self.records),
        }


def _fanout(settings: Settings, routes: Sequence[Route], topics: Topics) -> Fanout:
    """The worker's fan-out, under the workers' key, so hashes equal theirs."""
    from cxone_router.agents.fanout import fanout_of, warn_of_the_dev_key
    from cxone_router.redaction import DEV_REDACTION_KEY

    warn_of_the_dev_key(settings, routes)
    try:
        return fanout_of(settings, routes, topics)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"{exc}; reprocess needs the workers' key (the workers `cxone-router dev` "
            f"starts use the dev-only {DEV_REDACTION_KEY!r})") from None


async def reprocess(settings: Settings, kafka: Connection, since: datetime, until: datetime,
                    now: datetime, *, channel: str | None = None, dry_run: bool = False,
                    console: Console | None = None) -> Summary:
    """Read [since, until) of the raw topic and write (unless `dry_run`) what the current
    mappings make of it. Raises ReprocessError when the range holds no raw record."""
    from cxone_router.agents.dedup import DedupIndex
    from cxone_router.agents.outputs import EventOutputs, decode_raw
    from cxone_router.kafka.topics import Topics
    from cxone_router.mapping import Normalizer
    from cxone_router.routing import load_routes

    normalizer = Normalizer.from_dir(settings.schemas_dir)
    if channel is not None and channel not in normalizer.channels:
        raise ReprocessError(f"--channel {channel!r} is not a channel: "
                             f"{', '.join(normalizer.channels)}")
    routes = load_routes(settings.schemas_dir)
    topics = Topics.of(settings.topic_prefix, normalizer, routes)
    stamp = utc_iso(now)
    outputs = EventOutputs(normalizer, {c: topics.channel(c) for c in normalizer.channels},
                           _fanout(settings, routes, topics), [(REPROCESSED, stamp.encode())])
    summary = Summary(topics.raw, since, until, stamp, normalizer.mapping_version, channel,
                      dry_run)
    seen: set[str] = set()
    max_form_fields = settings.max_form_fields

    def handle(record: Record) -> list[Output]:
        """One raw record in the range: its outputs, or none (counted why)."""
        headers = as_dict(record.headers)
        where = f"partition {record.partition} offset {record.offset}"
        try:
            payload = decode_raw(record.value, headers, max_form_fields,
                                 normalizer.form_names)
            keys = normalizer.keys(payload)
            mark = DedupIndex.key(record.partition, keys.idempotency_key)  # the worker's
            if mark in seen:
                summary.duplicates += 1
                return []
            normalized, outs = outputs.build(payload, headers, keys)
        except Exception as exc:  # noqa: BLE001 - counted and reported, as the worker would
            failed_channel = channel_of(exc)
            if channel is not None and failed_channel not in (None, channel):
                summary.other_channel += 1
            else:
                summary.fail(reason_of(exc), where, exc)
            return []
        seen.add(mark)
        if channel is not None and normalized["channel"] != channel:
            summary.other_channel += 1
            return []
        summary.events[normalized["channel"]] += 1
        return outs

    from cxone_router.ops.connect import consuming, producing

    async with AsyncExitStack() as clients:
        consumer = await clients.enter_async_context(consuming(settings, kafka))
        producer = None if dry_run else await clients.enter_async_context(
            producing(settings, kafka))
        await _run(consumer, producer, topics.raw, summary, handle, console)
    if not summary.in_range:
        raise ReprocessError(f"no raw records on {topics.raw} between {utc_iso(since)} and "
                             f"{utc_iso(until)} (read {summary.read} around them)")
    return summary


async def _run(consumer: Any, producer: Any, topic: str, summary: Summary,
               handle: Callable[[Record], list[Output]], console: Console | None) -> None:
    from aiokafka import TopicPartition
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from cxone_router.ops.records import Start, bounds, partitions_of, scan

    partitions = await partitions_of(consumer, topic)
    if not partitions:
        raise ReprocessError(f"topic {topic} does not exist (is CXR_TOPIC_PREFIX right?)")
    tps = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(tps)
    since_ms, until_ms = to_ms(summary.since), to_ms(summary.until)
    where = await bounds(consumer, tps, Start("time", since_ms), until_ms)
    total = sum(max(0, b.end - b.start) for b in where.values())
    console = console or Console(stderr=True)
    bar = Progress(TextColumn("[bold]reprocess"), BarColumn(), MofNCompleteColumn(),
                   console=console, transient=True,
                   disable=not console.is_terminal or total < PROGRESS_FROM)
    sends: list[Sent] = []  # not yet acknowledged
    with bar:
        task = bar.add_task("reprocess", total=total)
        async with aclosing(scan(consumer, topic, where, until_ms=until_ms)) as records:
            async for record, _ in records:
                if record is None:
                    continue
                summary.read += 1
                bar.advance(task)
                if not since_ms <= record.timestamp_ms < until_ms:
                    continue
                summary.in_range += 1
                for out in handle(record):
                    summary.records[out.topic] += 1
                    if producer is not None:
                        await _send(producer, out, record, sends, summary)
                if len(sends) >= SEND_CHUNK:
                    await _acked(sends, summary)
        await _acked(sends, summary)


async def _send(producer: Any, out: Output, record: Record, sends: list[Sent],
                summary: Summary) -> None:
    where = f"raw partition {record.partition} offset {record.offset}"
    try:
        future = await producer.send(out.topic, value=out.value, key=out.key,
                                     headers=out.headers, partition=out.partition)
    except Exception as exc:  # noqa: BLE001 - refused: counted; else one line
        _refused(summary, out.topic, where, exc)
        return
    sends.append((future, out.topic, where))


async def _acked(sends: list[Sent], summary: Summary) -> None:
    """Wait for the broker to acknowledge every send so far (acks=all)."""
    for future, topic, where in sends:
        try:
            await future
        except Exception as exc:  # noqa: BLE001
            _refused(summary, topic, where, exc)
    sends.clear()


def _refused(summary: Summary, topic: str, where: str, exc: BaseException) -> None:
    """A record the broker will never take (too large...) is counted as the worker
    counts it (`too_large`, `write_refused`); any other failure stops the run."""
    from cxone_router.kafka.clients import REFUSED_RECORD_ERRORS, refused_reason

    if not isinstance(exc, REFUSED_RECORD_ERRORS):
        raise _write_failed(f"{topic} ({where})", exc) from None
    summary.records[topic] -= 1
    summary.fail(refused_reason(exc), f"{where} to {topic}", exc)


def _write_failed(where: str, exc: BaseException) -> ReprocessError:
    return ReprocessError(f"writing to {where} failed: {type(exc).__name__}: {exc}; the "
                          "records before it were written: run the same range again "
                          "(consumers upsert by idempotencyKey)")


# --- the command ----------------------------------------------------------------------

def reprocess_command(
    since: str = typer.Option(..., "--since", help=f"Start of the range, included: "
                              f"{times.FORMS}."),
    until: str | None = typer.Option(None, "--until", help="End of the range, excluded "
                                     "(same forms; default: now)."),
    channel: str | None = typer.Option(None, "--channel", help="Only events whose channel "
                                       "(by the current mappings) is this one."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Read and normalize, print what "
                                 "would be written, write nothing."),
    as_json: bool = typer.Option(False, "--json", help="The summary as one JSON object."),
) -> None:
    """Normalize the raw topic's records of a time range again with the current mappings
    and write them to the channel and fan-out topics, past the dedup table, each marked
    `cxr-reprocessed` (consumers upsert by idempotencyKey). Events that fail are counted,
    not dead-lettered again. Needs CXR_KAFKA_BOOTSTRAP (or a running
    `cxone-router dev`, found by itself) and the workers' CXR_REDACTION_KEY."""
    from cxone_router.kafka.clients import Connection
    from cxone_router.ops.connect import quiet_kafka_logs

    now = datetime.now(UTC)
    start, end = parse_range(since, until, now)
    settings = load_command_settings()
    kafka = Connection.of(settings)
    quiet_kafka_logs()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    summary = asyncio.run(reprocess(settings, kafka, start, end, now, channel=channel,
                                    dry_run=dry_run))
    if as_json:
        typer.echo(orjson.dumps(summary.to_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        print_summary(summary, Console())


def print_summary(s: Summary, console: Console) -> None:
    verb = "would write" if s.dry_run else "wrote"
    only = f", channel {s.channel} only" if s.channel else ""
    console.print(f"{'dry run: ' if s.dry_run else ''}reprocessed {s.topic} from "
                  f"{utc_iso(s.since)} to {utc_iso(s.until)} with mappings "
                  f"{s.mapping_version}{only}", highlight=False)
    console.print(f"  {s.in_range} raw records in the range ({s.read} read)", highlight=False)
    for name, count in sorted(s.events.items()):
        console.print(f"  {name:<10} {_n(count, 'event')}", highlight=False)
    if s.other_channel:
        console.print(f"  {_n(s.other_channel, 'event')} of other channels skipped",
                      highlight=False)
    if s.duplicates:
        console.print(f"  {_n(s.duplicates, 'redelivery', 'redeliveries')} skipped (an "
                      "idempotency key seen earlier in the range)", highlight=False)
    for reason, count in sorted(s.failed.items()):
        console.print(f"  {count} failed: {reason} (not dead-lettered again; first: "
                      f"{s.examples[reason]})", highlight=False, markup=False)
    console.print(f"  {verb} {_n(sum(s.records.values()), 'record')}:", highlight=False)
    for topic, count in sorted(s.records.items()):
        console.print(f"    {topic:<40} {count}", highlight=False)
    console.print(f"  headers: {MAPPING_VERSION}: {s.mapping_version}, "
                  f"{REPROCESSED}: {s.reprocessed_at}", highlight=False)


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"
