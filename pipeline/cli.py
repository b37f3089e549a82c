"""The `cxone-router` command: one entry point, a subcommand per process role."""

from __future__ import annotations

import typer

from pipeline.errors import ConfigurationError

app = typer.Typer(
    help="Receive NICE CXone webhooks and turn them into clean per-channel Kafka streams.",
    no_args_is_help=True,
    add_completion=False,
)

from pipeline.cxone.cli import fake_cxone_command, webhooks_app  # noqa: E402

app.add_typer(webhooks_app, name="webhooks")
app.command("fake-cxone")(fake_cxone_command)


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None
