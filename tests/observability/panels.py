"""The queries a generated dashboard asks Prometheus, for the tests that check them."""

from __future__ import annotations

from typing import Any


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL expr) for every query target of every panel of one dashboard
    JSON document, panels nested in (collapsed) rows included."""
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets") or []:
                found.append((str(panel.get("title", "")), str(target.get("expr", ""))))
            walk(panel.get("panels") or [])

    walk(dashboard.get("panels") or [])
    return found
