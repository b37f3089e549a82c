"""`cxone-router topics`: create the pipeline's topics; `topics describe`: look at them."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from cxone_router.settings import load_command_settings

topics_app = typer.Typer(
    help="Create the pipeline's topics where missing (idempotent) and list them; "
         "`topics describe` shows their partitions, record counts and retention.",
    add_completion=False,
)


@topics_app.callback(invoke_without_command=True)
def topics(ctx: typer.Context) -> None:
    """Create the pipeline's topics where missing (idempotent) and list them; `topics
    describe` shows their partitions, record counts and retention."""
    if ctx.invoked_subcommand is not None:
        return
    from cxone_router.kafka.clients import Connection, record_limit
    from cxone_router.kafka.topics import ensure_topics
    from cxone_router.ops.connect import quiet_kafka_logs
    from cxone_router.stack import topics_for

    settings = load_command_settings()
    kafka = Connection.of(settings)
    names = topics_for(settings).all()
    quiet_kafka_logs()
    created = asyncio.run(ensure_topics(kafka, names, settings.partitions,
                                        settings.replication_factor, record_limit(settings)))
    for name in names:
        typer.echo(f"{name}\t{'created' if name in created else 'exists'}")


@topics_app.command("describe")
def describe_command(
    json_output: Annotated[bool, typer.Option(
        "--json", help="One JSON object a line per topic, with each partition's "
        "beginning and end offsets.")] = False,
) -> None:
    """Each pipeline topic's partitions, records (end minus beginning offsets, summed over
    partitions: on the embedded broker it can read low by up to one batch) and retention
    (retention.ms; "broker default" when the topic does not set it). Exit code 1 when a
    topic is missing (run `cxone-router topics`)."""
    from cxone_router.kafka.clients import Connection
    from cxone_router.ops.connect import quiet_kafka_logs
    from cxone_router.ops.describe import describe
    from cxone_router.stack import topics_for

    settings = load_command_settings()
    kafka = Connection.of(settings)
    quiet_kafka_logs()
    infos = asyncio.run(describe(settings, kafka, topics_for(settings)))
    if json_output:
        sys.stdout.buffer.write(b"".join(orjson.dumps(i.to_json()) + b"\n" for i in infos))
        sys.stdout.flush()
    else:
        table = Table(title=f"topics on {kafka.bootstrap}", title_justify="left")
        for column, justify in (("topic", "left"), ("short", "left"), ("partitions", "right"),
                                ("records", "right"), ("retention", "left")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for i in infos:
            if i.exists:
                table.add_row(i.name, i.short or "", str(i.partitions), f"{i.records:,}",
                              i.retention.describe())
            else:
                table.add_row(i.name, i.short or "", "[red]missing[/red]", "", "")
        Console().print(table)
    if not all(i.exists for i in infos):
        raise typer.Exit(1)
