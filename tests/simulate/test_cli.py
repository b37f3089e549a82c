"""`cxone-router simulate` as scripts use it: options, JSON summary, exit codes."""

from __future__ import annotations

import orjson
import typer
from typer.testing import CliRunner

from cxone_router.cli import app as root_app
from cxone_router.simulate.cli import simulate_command

from .scripted_edge import ScriptedEdge

runner = CliRunner()


def _app() -> typer.Typer:
    """`simulate` as a subcommand, whatever else the root app registers."""
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("simulate")(simulate_command)
    return app


def test_the_root_command_registers_simulate() -> None:
    names = [c.name for c in root_app.registered_commands]
    assert "simulate" in names


def test_help_lists_every_knob() -> None:
    result = runner.invoke(_app(), ["simulate", "--help"])
    assert result.exit_code == 0
    for option in (
        "--url", "--rate", "--duration", "--count", "--concurrency", "--channels",
        "--redeliveries", "--drift", "--malformed", "--seed", "--json", "--no-progress",
    ):  # fmt: skip
        assert option in result.output


def test_json_summary_and_exit_0_when_all_accepted(edge: ScriptedEdge) -> None:
    args = ["simulate", "--url", f"{edge.url}/ok", "--count", "50", "--rate", "0"]
    result = runner.invoke(_app(), [*args, "--seed", "5", "--json", "--no-progress"])

    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary["sent"] == summary["accepted"] == 50
    assert summary["seed"] == 5 and summary["ok"] is True
    assert len(edge.received) == 50


def test_text_summary_by_default(edge: ScriptedEdge) -> None:
    args = ["simulate", "--url", f"{edge.url}/ok", "--count", "5", "--no-progress"]
    result = runner.invoke(_app(), args)
    assert result.exit_code == 0
    assert "accepted (202)   5" in result.stdout


def test_exit_1_when_clean_events_are_refused(edge: ScriptedEdge) -> None:
    args = ["simulate", "--url", f"{edge.url}/reject", "--count", "5", "--malformed", "0"]
    result = runner.invoke(_app(), [*args, "--json", "--no-progress"])

    assert result.exit_code == 1
    summary = orjson.loads(result.stdout)
    assert summary["rejected"] == summary["unexpected_rejections"] == 5


def test_exit_1_when_events_are_lost(closed_port_url: str) -> None:
    args = ["simulate", "--url", closed_port_url, "--count", "3", "--max-attempts", "1"]
    result = runner.invoke(_app(), [*args, "--json", "--no-progress"])

    assert result.exit_code == 1
    assert orjson.loads(result.stdout)["lost"] == 3


def test_a_bad_channel_mix_is_refused_before_sending(edge: ScriptedEdge) -> None:
    args = ["simulate", "--url", f"{edge.url}/ok", "--channels", "fax=1", "--count", "1"]
    result = runner.invoke(_app(), args)

    assert result.exit_code != 0
    assert "fax" in str(result.exception)
    assert edge.received == []
