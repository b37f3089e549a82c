"""`cxone-router observability ...`: generate the rules, alerts and dashboards."""

from __future__ import annotations

from pathlib import Path

import typer

from cxone_router.settings import REPO_ROOT, load_settings

observability_app = typer.Typer(
    help="Prometheus rules, alerts and Grafana dashboards, generated from the SLO file.",
    no_args_is_help=True,
)


@observability_app.command("generate")
def generate_command(
    out: Path = typer.Option(REPO_ROOT, "--out", help="Folder to write compose/prometheus/ "
                             "and grafana/ under."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when a "
                               "generated file is missing or out of date."),
) -> None:
    """Write Prometheus recording rules and burn-rate alerts, an example Prometheus
    configuration and the Grafana dashboards (with provisioning) from schemas/slos.json
    (CXR_SCHEMAS_DIR)."""
    from cxone_router.observability.generate import generated, stale, write
    from cxone_router.observability.slo import load_slos

    files = generated(load_slos(load_settings().schemas_dir))
    if check:
        outdated = stale(out, files)
        for path in outdated:
            typer.echo(f"out of date: {path}")
        if outdated:
            typer.echo("run `cxone-router observability generate` and commit the result",
                       err=True)
            raise typer.Exit(1)
        typer.echo(f"{len(files)} generated files are up to date")
        return
    written = write(out, files)
    for path in sorted(files):
        typer.echo(f"{'written' if path in written else 'unchanged'}\t{path}")
