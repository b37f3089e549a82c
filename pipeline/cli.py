"""The `cxone-router` command: one entry point, a subcommand per process role."""

from __future__ import annotations

import typer

from pipeline.errors import ConfigurationError
from pipeline.simulate.cli import simulate_command

app = typer.Typer(
    help="Receive NICE CXone webhooks and turn them into clean per-channel Kafka streams.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("simulate")(simulate_command)


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None
