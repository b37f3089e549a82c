"""`cxone-router dlq list/show/replay`: browse the dead letters and send them back."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cxone_router.dlq import Reason
from cxone_router.ops.dlq import (
    DeadLetter,
    Selector,
    SelectorError,
    parse_list,
    parse_position,
    parse_positions,
    parse_reasons,
)
from cxone_router.ops.times import FORMS, TimeFormatError, parse_time, utc_iso

if TYPE_CHECKING:
    from cxone_router.kafka.clients import Connection
    from cxone_router.ops.dlq import Replay, Skip
    from cxone_router.ops.replay import Found
    from cxone_router.settings import Settings

dlq_app = typer.Typer(
    help="Browse the dead-letter topic and replay dead letters to the raw topic.",
    no_args_is_help=True, add_completion=False,
)
PROGRESS_FROM = 20  # a replay of more dead letters than this shows a progress bar

Reasons = Annotated[list[str] | None, typer.Option(
    "--reason", help=f"Only this reason ({', '.join(Reason)}); repeat or comma-separate "
    "for several.", show_default=False)]
Since = Annotated[str | None, typer.Option(
    "--since", help=f"Only dead letters that failed at or after this: {FORMS}.",
    show_default=False)]
Until = Annotated[str | None, typer.Option(
    "--until", help="Only dead letters that failed before this (same forms as --since).",
    show_default=False)]
Key = Annotated[str | None, typer.Option(
    "--key", help="Only dead letters with this key (the interaction id).", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="JSON on stdout, for scripts.")]


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except TimeFormatError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from None


def selector_of(reasons: list[str] | None = None, since: str | None = None,
                until: str | None = None, key: str | None = None,
                offsets: list[str] | None = None, ids: list[str] | None = None) -> Selector:
    """The command line's selectors; a malformed one is a usage error naming the option."""
    try:
        reason_set = parse_reasons(reasons or [])
    except SelectorError as exc:
        raise typer.BadParameter(str(exc), param_hint="--reason") from None
    try:
        positions = parse_positions(offsets or [])
    except SelectorError as exc:
        raise typer.BadParameter(str(exc), param_hint="--offsets") from None
    return Selector(reason_set, _time(since, "--since"), _time(until, "--until"),
                    None if key is None else key.encode(), positions, parse_list(ids or []))


def _setup() -> tuple[Settings, Connection, str, str]:
    """Settings, the connection, the DLQ's and the raw topic's names."""
    from cxone_router.kafka.clients import Connection
    from cxone_router.kafka.topics import Topics
    from cxone_router.ops.connect import quiet_kafka_logs
    from cxone_router.settings import load_command_settings

    settings = load_command_settings()
    kafka = Connection.of(settings)
    quiet_kafka_logs()
    topics = Topics(settings.topic_prefix, (), ())  # raw and dlq need no mappings
    return settings, kafka, topics.dlq, topics.raw


def event_ids(settings: Settings) -> Callable[[DeadLetter], str | None]:
    """A dead letter's event id (what the edge answered with), read from its body by the
    current mappings; None when the body does not parse."""
    from cxone_router.mapping import Normalizer
    from cxone_router.payload import decode

    normalizer = Normalizer.from_dir(settings.schemas_dir)

    def event_id(letter: DeadLetter) -> str | None:
        value = letter.record.value
        if not value:
            return None
        try:
            payload = decode(value, letter.record.header("content-type") or "application/json",
                             settings.max_form_fields)
            return normalizer.keys(payload).event_id
        except Exception:  # noqa: BLE001 - a body that does not parse has no event id
            return None

    return event_id


async def _load(settings: Settings, kafka: Connection, dlq: str, selector: Selector,
                event_id: Callable[[DeadLetter], str | None] | None = None,
                ) -> Found:
    from cxone_router.ops.connect import consuming
    from cxone_router.ops.replay import dead_letters

    if selector.ids and event_id is None:
        event_id = event_ids(settings)
    async with consuming(settings, kafka) as consumer:
        return await dead_letters(consumer, dlq, selector, event_id)


def _when(when: datetime | None, timespec: str = "seconds") -> str:
    return "-" if when is None else utc_iso(when, timespec)


def _write_json(data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(data) + b"\n")
    sys.stdout.flush()


# --- list ----------------------------------------------------------------------------------

@dlq_app.command("list")
def list_command(reason: Reasons = None, since: Since = None, until: Until = None,
                 key: Key = None, json_output: Json = False) -> None:
    """Dead letters grouped by reason and stage: how many, first and last failed
    (cxr-dlq-failed-at), and the latest as an example (partition:offset, request id)."""
    from cxone_router.ops.dlq import group

    selector = selector_of(reason, since, until, key)
    settings, kafka, dlq, _ = _setup()
    letters = asyncio.run(_load(settings, kafka, dlq, selector)).letters
    groups = group(letters)
    if json_output:
        _write_json({"topic": dlq, "total": len(letters), "groups": [g.to_json() for g in groups]})
        return
    console = Console(highlight=False)
    if not groups:
        console.print(f"no dead letters on {dlq}" + ("" if selector.everything
                                                      else " match"))
        return
    table = Table(title=f"{len(letters)} dead letter{'s' if len(letters) != 1 else ''} on "
                  f"{dlq}", title_justify="left")
    for column in ("reason", "stage", "count", "first failed", "last failed", "latest at",
                   "its request id"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for g in groups:
        example = g.example
        table.add_row(g.reason, g.stage, str(g.count), _when(g.first_seen),
                      _when(g.last_seen), example.position if example else "",
                      escape(example.request_id or "") if example else "")
    console.print(table)
    console.print("[dim]cxone-router dlq show PARTITION:OFFSET shows one whole[/dim]")


# --- show ----------------------------------------------------------------------------------

@dlq_app.command("show")
def show_command(
    target: Annotated[str, typer.Argument(
        help="PARTITION:OFFSET of the dead letter, or a request id (cxr-request-id, the "
        "edge's X-Request-Id) or event id (the edge's eventId): every dead letter of it.",
        show_default=False)],
    json_output: Json = False,
) -> None:
    """Print a dead letter whole: the error, every header, the raw body. Exit code 1 when
    there is none."""
    position = parse_position(target)
    selector = Selector(positions=frozenset([position])) if position else \
        Selector(ids=frozenset([target.strip()]))
    settings, kafka, dlq, _ = _setup()
    letters = asyncio.run(_load(settings, kafka, dlq, selector)).letters
    if not letters:
        what = f"at {target}" if position else f"with request or event id {target!r}"
        typer.secho(f"no dead letter {what} on {dlq}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if json_output:
        from cxone_router.ops.render import to_json

        for letter in letters:
            _write_json(to_json(letter.record))
        return
    console = Console(highlight=False)
    for letter in letters:
        about, body = _whole(letter)
        console.print(about)
        console.print(body, soft_wrap=True)  # as received: no line breaks added
        console.print()


def _whole(letter: DeadLetter) -> tuple[Group, Text]:
    """The error and every header; the body as received."""
    from cxone_router.ops.render import title

    record = letter.record
    error = Table.grid(padding=(0, 2))
    error.add_column(style="bold")
    error.add_column()
    failed_at = _when(letter.failed_at, "milliseconds")
    for name, value in (("reason", letter.reason), ("stage", letter.stage),
                        ("error class", letter.error_class), ("message", letter.error_message),
                        ("attempt", str(letter.attempt)), ("failed at", failed_at),
                        ("original at", letter.source), ("body omitted", letter.body_omitted)):
        if value is not None:
            error.add_row(name, Text(value))
    headers = Table.grid(padding=(0, 2))
    headers.add_column(style="cyan")
    headers.add_column()
    for header, raw_value in record.headers:
        headers.add_row(Text(header), Text(raw_value.decode("utf-8", "replace")))
    size = 0 if record.value is None else len(record.value)
    raw = Text((record.value or b"").decode("utf-8", "replace"))
    return Group(title(record), Text("error", style="bold underline"), error,
                 Text("headers", style="bold underline"), headers,
                 Text(f"body ({size} bytes, as received)", style="bold underline")), raw


# --- replay --------------------------------------------------------------------------------

@dlq_app.command("replay")
def replay_command(
    reason: Reasons = None, since: Since = None, until: Until = None, key: Key = None,
    offsets: Annotated[list[str] | None, typer.Option(
        "--offsets", help="Only these dead letters: PARTITION:OFFSET[,PARTITION:OFFSET...].",
        show_default=False)] = None,
    ids: Annotated[list[str] | None, typer.Option(
        "--ids", help="Only the dead letters of these request ids (cxr-request-id) or event "
        "ids, comma-separated.", show_default=False)] = None,
    everything: Annotated[bool, typer.Option(
        "--all", help="Every dead letter (needed when no other selector is given).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show what would be sent; send nothing.")] = False,
    json_output: Json = False,
) -> None:
    """Send the selected dead letters back to the raw topic, keyed as they were, with the
    original request's headers, the attempt count the dead letter reached (a new dead
    letter of the event counts one more) and cxr-replayed-from (the dead letter's
    topic:partition:offset). The worker's dedup table lets an event through once, however
    often it is replayed. Not sent, and reported: a dead letter whose attempt count reached
    CXR_DLQ_MAX_ATTEMPTS, one without its body (the original's position is given), and
    one replayed already that failed again (replay the later dead letter instead).
    Selectors combine (all must hold). Exit code 1 when a selected dead letter was not
    sent, or an --offsets/--ids value matched none."""
    from cxone_router.ops.dlq import plan

    selector = selector_of(reason, since, until, key, offsets, ids)
    if selector.everything and not everything:
        raise typer.BadParameter("say which dead letters: --reason, --since/--until, --key, "
                                 "--offsets, --ids, or --all for every one",
                                 param_hint="selectors")
    settings, kafka, dlq, raw = _setup()
    event_id = event_ids(settings) if selector.ids else None
    found = asyncio.run(_load(settings, kafka, dlq, selector, event_id))
    letters = found.letters
    replays, skips = plan(letters, settings.dlq_max_attempts, found.superseded)
    unmatched = _unmatched(selector, letters, event_id)
    sent: list[tuple[Replay, Any]] = []
    failed: list[tuple[Replay, BaseException]] = []
    if replays and not dry_run:
        sent, failed = asyncio.run(_send(settings, kafka, raw, replays,
                                         progress=not json_output))
    if json_output:
        _write_json(_replay_json(raw, dry_run, replays, sent, skips, failed, unmatched))
    else:
        _print_replay(raw, dry_run, replays, sent, skips, failed, unmatched, len(letters))
    if skips or failed or unmatched:
        raise typer.Exit(1)


def _unmatched(selector: Selector, letters: list[DeadLetter],
               event_id: Callable[[DeadLetter], str | None] | None) -> list[str]:
    """The --offsets and --ids values no selected dead letter answers to."""
    positions = {(d.record.partition, d.record.offset) for d in letters}
    found = {d.request_id for d in letters}
    if event_id is not None:
        found |= {event_id(d) for d in letters}
    return [f"{p}:{o}" for p, o in sorted(selector.positions - positions)] + \
        sorted(selector.ids - {f for f in found if f is not None})


async def _send(settings: Settings, kafka: Connection, raw: str, replays: list[Replay],
                progress: bool) -> tuple[list[tuple[Replay, Any]],
                                         list[tuple[Replay, BaseException]]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from cxone_router.ops.connect import producing
    from cxone_router.ops.replay import send

    console = Console(stderr=True)
    bar = Progress(TextColumn("[bold]replay"), BarColumn(), MofNCompleteColumn(),
                   console=console, transient=True,
                   disable=not (progress and console.is_terminal
                                and len(replays) > PROGRESS_FROM))
    task = bar.add_task("", total=len(replays))
    async with producing(settings, kafka) as producer:
        with bar:
            return await send(producer, raw, replays, lambda: bar.advance(task))


def _replay_json(raw: str, dry_run: bool, replays: list[Replay], sent: list[tuple[Replay, Any]],
                 skips: list[Skip], failed: list[tuple[Replay, BaseException]],
                 unmatched: list[str]) -> dict[str, Any]:
    def item(r: Replay) -> dict[str, Any]:
        return {"from": r.letter.here, "reason": r.letter.reason, "attempt": r.letter.attempt,
                "key": None if r.key is None else r.key.decode("utf-8", "replace"),
                "request_id": r.letter.request_id}

    return {
        "topic": raw, "dry_run": dry_run,
        "replayed": [item(r) for r in replays] if dry_run else
        [{**item(r), "partition": m.partition, "offset": m.offset} for r, m in sent],
        "skipped": [{"from": s.letter.here, "reason": s.letter.reason,
                     "attempt": s.letter.attempt, "why": s.why} for s in skips],
        "failed": [{**item(r), "error": f"{type(e).__name__}: {e}"} for r, e in failed],
        "unmatched": unmatched,
    }


def _print_replay(raw: str, dry_run: bool, replays: list[Replay],
                  sent: list[tuple[Replay, Any]], skips: list[Skip],
                  failed: list[tuple[Replay, BaseException]], unmatched: list[str],
                  selected: int) -> None:
    console = Console(highlight=False)
    if not selected:
        console.print("no dead letters match")
    if replays:
        table = Table(title=(f"would send {len(replays)} to {raw} (dry run: nothing sent)"
                             if dry_run else f"sent {len(sent)} of {len(replays)} to {raw}"),
                      title_justify="left")
        for column in ("dead letter", "reason", "attempt", "key", "request id"):
            table.add_column(column)
        for r in replays:
            table.add_row(r.letter.position, r.letter.reason, str(r.letter.attempt),
                          escape((r.key or b"").decode("utf-8", "replace")),
                          escape(r.letter.request_id or ""))
        console.print(table)
    err = Console(stderr=True, highlight=False)
    for s in skips:
        err.print(f"not replayed {s.letter.position} ({s.letter.reason}): {escape(s.why)}")
    for r, e in failed:
        err.print(f"[red]failed[/red] {r.letter.position}: {type(e).__name__}: "
                  f"{escape(str(e))}")
    for value in unmatched:
        err.print(f"no dead letter matches {escape(value)}")
