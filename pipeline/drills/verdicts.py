"""Each drill's figures against its targets: one PASS or MISS line per drill, and the drill
command's exit status (1 when any target is missed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cxone_router.drills.figures import Figures


@dataclass(frozen=True)
class Targets:
    """What a drill may cost at most. Nothing accepted may be lost; exactly once, nothing
    may be written twice (at least once, copies are allowed: consumers upsert by
    idempotencyKey); the output may stop for less than `gap_s` seconds."""

    gap_s: float
    lost: int = 0
    duplicates: int = 0  # exactly once only


@dataclass(frozen=True)
class Verdict:
    missed: tuple[str, ...]  # the figures over their targets
    line: str

    @property
    def passed(self) -> bool:
        return not self.missed


def judge(result: Figures, targets: Targets) -> Verdict:
    exactly_once = result.checks.get("processing_guarantee") == "exactly_once"
    missed = []
    if result.lost > targets.lost:
        missed.append("lost")
    if exactly_once and result.duplicates > targets.duplicates:
        missed.append("duplicates")
    if result.longest_gap_s >= targets.gap_s:
        missed.append("longest gap")
    duplicates = (f"target {targets.duplicates}" if exactly_once
                  else "no target at least once")
    line = (f"{'MISS' if missed else 'PASS'} {result.drill}: "
            f"lost {result.lost} (target {targets.lost}), "
            f"duplicates {result.duplicates} ({duplicates}), "
            f"longest gap {result.longest_gap_s:g} s (target < {targets.gap_s:g} s)")
    return Verdict(tuple(missed), line)


def report(verdicts: Sequence[Verdict], echo: Callable[[str], None]) -> int:
    """Echo each verdict's line; the exit status: 1 when any drill missed a target."""
    for verdict in verdicts:
        echo(verdict.line)
    return 0 if all(v.passed for v in verdicts) else 1
