"""The transform writes, byte for byte, what it wrote before its optimisation (issue 15).

`fixtures/transform-golden.json.xz` holds 4,844 raw records (the simulator's traffic, with
malformed, drifted and randomly mutated events, the demo samples, the DFO fixture and
hand-made edge cases) and, captured from the implementation before the optimisation, all
the transform made of each: keys, dedup key, channel, interaction id, the record's bytes,
and every output's topic, key, value bytes, headers and partition, on the project's routes
and on routes that use each filter and redaction kind (`transform_golden.ROUTES_VARIANT`).
Any change of output, a byte or a header or an error message, fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit import transform_golden as golden


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    return golden.load()


def _compare(subject: golden.Subject, cases: list[dict[str, Any]],
             expected: list[dict[str, Any]]) -> None:
    assert len(cases) == len(expected)
    differ = []
    for case, want in zip(cases, expected, strict=True):
        got = golden.outcome(subject, case)
        if got != want:
            differ.append((case["label"], case["value"], want, got))
    assert not differ, (f"{len(differ)} of {len(cases)} events transform differently; the "
                        f"first: {differ[0]}")


def test_the_project_routes_write_what_they_wrote(recorded: dict[str, Any]) -> None:
    _compare(golden.Subject(golden.SCHEMAS), recorded["cases"], recorded["default"])


def test_every_filter_and_redaction_kind_writes_what_it_wrote(
        recorded: dict[str, Any], tmp_path: Path) -> None:
    _compare(golden.Subject(golden.variant_schemas(tmp_path)), recorded["cases"],
             recorded["variant"])


def test_the_cases_cover_what_they_should(recorded: dict[str, Any]) -> None:
    """Errors of every stage, and events with every number of outputs."""
    kinds = set()
    for out in recorded["default"] + recorded["variant"]:
        stage = next((s for s in ("decode", "keys", "build") if isinstance(out.get(s), dict)),
                     None)
        kinds.add(f"{stage}:{out[stage]['error']}" if stage else len(out["outputs"]))
    assert {"decode:InvalidPayload", "keys:InvalidPayload", "build:MissingField",
            "build:UnknownChannel", 2, 3, 4, 5, 6} <= kinds
