"""The versions agents/faust_patches.py was written for. Its patches replace methods of
these packages' internals, which any release may change without a word; on another
version they could silently no longer apply, and records be lost. A worker refuses to
start on one until the patches are reviewed against it (and pyproject.toml's pins moved
with this table)."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from cxone_router.errors import ConfigurationError

PATCHED = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}


def installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "none"


def check_patched_versions(installed: Callable[[str], str] = installed) -> None:
    """Raise ConfigurationError naming each package whose installed version is not the one
    the patches were written for."""
    wrong = [f"{name} {installed(name)} is installed, the patches are for {wanted}"
             for name, wanted in PATCHED.items() if installed(name) != wanted]
    if wrong:
        raise ConfigurationError(
            "agents/faust_patches.py does not fit this install: " + "; ".join(wrong)
            + " (install the pinned versions: pip install -r requirements/runtime.txt)")
