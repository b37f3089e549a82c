"""`cxone-router tail TOPIC`: a topic's records, for people or (`--json`) for scripts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from cxone_router.ops.records import Query, StartFormatError, parse_start

if TYPE_CHECKING:
    from cxone_router.kafka.clients import Connection
    from cxone_router.settings import Settings

SHORT_NAMES = "raw, voice, chat, sms, email, analytics, crm-sync, notification, dlq"


def tail_command(
    topic: Annotated[str, typer.Argument(
        help=f"A topic: its full name, or a short one ({SHORT_NAMES}; a channel or route "
        "of your own mappings too), prefixed with CXR_TOPIC_PREFIX.", show_default=False)],
    start: Annotated[str, typer.Option(
        "--from", help="Where each partition starts: beginning, end, an offset (42; -10 = "
        "the last 10 of each partition), an ISO-8601 time (no offset = UTC) or an age "
        "(30s, 10m, 2h, 1d): the first record at or after it.")] = "beginning",
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", help="Keep waiting for new records after the end, until Ctrl-C "
        "(or --limit).")] = False,
    partition: Annotated[list[int] | None, typer.Option(
        "--partition", "-p", min=0, help="Only this partition; repeat for several.",
        show_default=False)] = None,
    key: Annotated[str | None, typer.Option(
        "--key", "-k", help="Only records with this key (the interaction id on the "
        "pipeline's topics).", show_default=False)] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", "-n", min=1, help="Stop after this many records (over all partitions).",
        show_default=False)] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="One JSON object a line: topic, partition, offset, timestamp (ISO "
        "UTC), key, headers (UTF-8), value (JSON when it parses, else a string).")] = False,
) -> None:
    """Print a topic's records, from --from to the end offsets as they are when it starts
    (then it exits), or for ever with --follow. Reads without a consumer group: it commits
    nothing and moves no worker's offsets."""
    from cxone_router.kafka.clients import Connection
    from cxone_router.ops.connect import quiet_kafka_logs
    from cxone_router.settings import load_command_settings

    try:
        begin = parse_start(start)
    except StartFormatError as exc:
        raise typer.BadParameter(str(exc), param_hint="--from") from None
    settings = load_command_settings()
    kafka = Connection.of(settings)
    quiet_kafka_logs()
    query = Query(begin, tuple(partition) if partition else None,
                  key.encode() if key is not None else None, limit, follow)
    try:
        shown = asyncio.run(_tail(settings, kafka, topic, query, json_output))
    except KeyboardInterrupt:  # how --follow ends
        return
    except BrokenPipeError:  # `| head`: the reader left; say nothing more
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    if not json_output:
        Console(stderr=True).print(f"[dim]{shown} record{'' if shown == 1 else 's'}[/dim]")


async def _tail(settings: Settings, kafka: Connection, name: str, query: Query,
                json_output: bool) -> int:
    from cxone_router.ops import render
    from cxone_router.ops.connect import consuming
    from cxone_router.ops.names import resolve_lazily, unknown_topic
    from cxone_router.ops.records import partitions_of, read
    from cxone_router.stack import topics_for

    full = resolve_lazily(name, settings.topic_prefix, lambda: topics_for(settings))
    shown = 0
    async with consuming(settings, kafka) as consumer:
        if await partitions_of(consumer, full) is None:
            raise unknown_topic(name, topics_for(settings), kafka.bootstrap)
        out = sys.stdout.buffer
        console = Console(highlight=False)
        async for record in read(consumer, full, query):
            if json_output:
                out.write(render.json_line(render.to_json(record)))
                if query.follow:
                    out.flush()
            else:
                console.print(render.pretty(record))
            shown += 1
        out.flush()
    return shown
