"""`cxone-router drill`: the fault drills, with figures; `--short` is make test's form."""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

import orjson
import typer

from cxone_router.errors import ConfigurationError


def drill_command(
    names: list[str] = typer.Argument(None, help="Drills to run (default: all): "
                                      "worker-kill, worker-kill-mid-transaction, "
                                      "worker-pause, broker-kill, broker-pause, "
                                      "cluster-restart, rolling-restart, edge-kill."),
    short: bool = typer.Option(False, "--short", help="100 events/s and short fault "
                               "windows: the form make test runs."),
    rate: float = typer.Option(None, "--rate", min=1, help="Events/s (default 500, or 100 "
                               "with --short)."),
    markdown: Path = typer.Option(None, "--markdown", help="Write the figures as a "
                                  "Markdown table (RELIABILITY.md's form) to this file."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    logs: Path = typer.Option(None, "--logs", help="Keep brokers' and processes' logs "
                              "here (default: a temporary folder, removed)."),
    setting: list[str] = typer.Option(None, "--set", help="CXR_NAME=value for the edge and "
                                      "workers, e.g. --set CXR_SESSION_TIMEOUT_SECONDS=4."),
) -> None:
    """Run fault drills against an edge and two workers on a three-node Apache Kafka
    cluster (needs Java 17+ and Maven) and count accepted, lost and duplicated events,
    end-to-end latency, the longest gap in output and the time to recover. Ends with one
    PASS or MISS line per drill against its targets (lost, duplicates, longest gap) and
    exits 1 if any drill missed one."""
    from dataclasses import replace

    from cxone_router.drills.runner import markdown as to_markdown
    from cxone_router.drills.runner import run_drills
    from cxone_router.drills.scenarios import BY_NAME, DRILLS, SHORT, Plan
    from cxone_router.drills.verdicts import judge, report

    unknown = [n for n in names or [] if n not in BY_NAME]
    if unknown:
        raise ConfigurationError(f"unknown drill {', '.join(unknown)}: choose from "
                                 f"{', '.join(BY_NAME)}")
    overrides = dict(_setting(s) for s in setting or [])
    plan = SHORT if short else Plan()
    if rate is not None:
        plan = replace(plan, rate=rate)
    drills = [BY_NAME[n] for n in names] if names else DRILLS
    with tempfile.TemporaryDirectory(prefix="cxr-drills-") as scratch:
        folder = logs or Path(scratch)
        results = run_drills(drills, plan, folder, lambda line: typer.echo(line, err=True),
                             overrides)
    command = "cxone-router drill " + shlex.join(sys.argv[2:])
    table = to_markdown(results, plan, command)
    if markdown:
        markdown.write_text(table)
    verdicts = [judge(r, BY_NAME[r.drill].targets) for r in results]
    if as_json:
        typer.echo(orjson.dumps([{**r.to_dict(), "verdict": v.line}
                                 for r, v in zip(results, verdicts, strict=True)],
                                option=orjson.OPT_INDENT_2).decode())
    else:
        typer.echo(table)
    # last, on the log's stream: --json's output stays JSON
    raise typer.Exit(report(verdicts, lambda line: typer.echo(line, err=True)))


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("CXR_"):
        raise ConfigurationError(f"--set {text!r}: write CXR_NAME=value")
    return name, value
