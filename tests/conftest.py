"""What every test directory shares: which brokers the suite runs on
(`CXR_TEST_BROKERS`, default both), and that tests marked `apache` run only when Apache
Kafka is one of them (tests/bench has one too). A state folder of the run's own, so that
no command a test runs finds a `cxone-router dev` the user has running (or another run's)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

BROKERS = [b for b in os.environ.get("CXR_TEST_BROKERS", "embedded,apache").split(",") if b]

_state = tempfile.mkdtemp(prefix="cxr-test-state-")
os.environ["XDG_STATE_HOME"] = _state  # where `dev` says it runs (pipeline/devstack.py)
atexit.register(shutil.rmtree, _state, True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `apache` run on Apache Kafka only (and only when it is selected)."""
    def runs(item: pytest.Item) -> bool:
        if item.get_closest_marker("apache") is None:
            return True
        callspec = getattr(item, "callspec", None)
        on = callspec.params.get("broker", "apache") if callspec else "apache"
        return "apache" in BROKERS and on == "apache"

    kept = [item for item in items if runs(item)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if not runs(i)])
        items[:] = kept
