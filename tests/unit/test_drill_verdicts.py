"""A drill's verdict: PASS only when lost, duplicates (exactly once) and the longest gap are
within its targets; one MISS makes the drill command's exit status 1."""

from __future__ import annotations

import inspect
from dataclasses import replace

from cxone_router.drills.cli import drill_command
from cxone_router.drills.figures import Figures
from cxone_router.drills.runner import markdown
from cxone_router.drills.scenarios import BY_NAME, DRILLS, SHORT, Plan
from cxone_router.drills.verdicts import Targets, judge, report

TARGETS = Targets(gap_s=10)


def _figures(lost: int = 0, duplicates: int = 0, gap: float = 4.1,
             guarantee: str = "exactly_once") -> Figures:
    return Figures(drill="worker-kill", accepted=1000, lost=lost, duplicates=duplicates,
                   dead_lettered=0, p50_ms=100.0, p99_ms=900.0, max_ms=4000.0,
                   longest_gap_s=gap, recovery_s=5.0, longest_without_202_s=0.1, retries=0,
                   unfinished=0, statuses={"202": 1000},
                   checks={"processing_guarantee": guarantee})


def test_within_every_target_passes() -> None:
    verdict = judge(_figures(), TARGETS)
    assert verdict.passed
    assert verdict.line == ("PASS worker-kill: lost 0 (target 0), duplicates 0 (target 0), "
                            "longest gap 4.1 s (target < 10 s)")


def test_each_figure_over_its_target_is_a_miss() -> None:
    assert judge(_figures(lost=1), TARGETS).missed == ("lost",)
    assert judge(_figures(duplicates=2), TARGETS).missed == ("duplicates",)
    assert judge(_figures(gap=10.0), TARGETS).missed == ("longest gap",)  # "< 10 s"
    verdict = judge(_figures(lost=3, duplicates=1, gap=12.5), TARGETS)
    assert verdict.missed == ("lost", "duplicates", "longest gap")
    assert verdict.line == ("MISS worker-kill: lost 3 (target 0), duplicates 1 (target 0), "
                            "longest gap 12.5 s (target < 10 s)")


def test_at_least_once_copies_are_not_judged() -> None:
    verdict = judge(_figures(duplicates=11, guarantee="at_least_once"), TARGETS)
    assert verdict.passed
    assert "duplicates 11 (no target at least once)" in verdict.line
    assert not judge(_figures(lost=1, guarantee="at_least_once"), TARGETS).passed


def test_one_miss_makes_the_exit_status_1() -> None:
    lines: list[str] = []
    passed, missed = judge(_figures(), TARGETS), judge(_figures(gap=30.0), TARGETS)
    assert report([passed, passed], lines.append) == 0
    assert report([passed, missed], lines.append) == 1
    assert lines == [passed.line, passed.line, passed.line, missed.line]  # one per drill


def test_titles_state_the_plans_own_timings() -> None:
    """What the log announces is what the fault then does: --short's shorter windows."""
    kill = BY_NAME["worker-kill"]
    assert kill.describe(Plan()) == "kill -9 a worker, restart it 5 s later"
    assert kill.describe(SHORT) == "kill -9 a worker, restart it 2 s later"
    assert "for 3 s" in BY_NAME["broker-pause"].describe(SHORT)
    assert "for 12.5 s" in BY_NAME["worker-pause"].describe(replace(SHORT, worker_paused=12.5))
    names_help = inspect.signature(drill_command).parameters["names"].default.help
    for drill in DRILLS:
        assert "{" not in drill.describe(SHORT), drill.name
        assert f" {drill.name}," in names_help or f" {drill.name}." in names_help, drill.name


def test_the_markdown_states_each_fault_with_the_plans_timings() -> None:
    text = markdown([_figures()], SHORT, "cxone-router drill --short worker-kill")
    assert "3 s before the fault, 4 s after the recovery action" in text
    assert "- **worker-kill** (kill -9 a worker, restart it 2 s later): answers" in text
