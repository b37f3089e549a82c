"""The generated rules, dashboards and provisioning files are committed, and current.

Invariant: what is in the repository is what `cxone-router observability generate` writes
from schemas/slos.json now; `--check` says so, and says which file when it is not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cxone_router.observability.generate import generated, stale, write
from cxone_router.observability.slo import load_slos
from cxone_router.settings import REPO_ROOT

FILES = generated(load_slos(REPO_ROOT / "schemas"))


def test_the_committed_files_are_what_the_generator_writes_now() -> None:
    assert stale(REPO_ROOT, FILES) == [], (
        "run `cxone-router observability generate` and commit the result")
    tracked = subprocess.run(["git", "ls-files", *FILES], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert sorted(tracked) == sorted(FILES), "generated files must be committed"


def test_generating_twice_gives_the_same_bytes() -> None:
    assert generated(load_slos(REPO_ROOT / "schemas")) == FILES


def test_check_names_an_out_of_date_file_and_generate_fixes_it(tmp_path: Path) -> None:
    write(tmp_path, FILES)
    rules = tmp_path / "compose/prometheus/cxr-rules.yml"
    rules.write_text(rules.read_text().replace("14.4", "99"))
    command = [sys.executable, "-m", "cxone_router", "observability", "generate",
               "--out", str(tmp_path)]
    check = subprocess.run([*command, "--check"], capture_output=True, text=True)
    assert check.returncode == 1
    assert "out of date: compose/prometheus/cxr-rules.yml" in check.stdout
    fixed = subprocess.run(command, capture_output=True, text=True)
    assert fixed.returncode == 0 and "written\tcompose/prometheus/cxr-rules.yml" in fixed.stdout
    assert subprocess.run([*command, "--check"], capture_output=True).returncode == 0
