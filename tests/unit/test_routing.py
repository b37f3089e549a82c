from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cxone_router.mapping.errors import MappingError
from cxone_router.routing import load_routes

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def record(channel: str, event_type: str, direction: str | None = "inbound",
           status: str | None = None) -> dict[str, Any]:
    return {"channel": channel, "eventType": event_type, "direction": direction,
            "context": {"status": status} if status else {}}


def routed(rec: dict[str, Any]) -> set[str]:
    return {r.name for r in load_routes(SCHEMAS) if r.matches(rec)}


@pytest.mark.parametrize("rec,expected", [
    (record("voice", "interaction.created"), {"analytics"}),
    (record("voice", "interaction.completed"), {"analytics", "crm-sync"}),
    (record("email", "CaseStatusChanged", status="closed"), {"analytics", "crm-sync"}),
    (record("email", "CaseStatusChanged", status="open"), {"analytics"}),
    (record("chat", "MessageCreated", status="closed"), {"analytics", "notification"}),
    (record("voice", "Disconnected"), {"analytics", "crm-sync"}),
    (record("sms", "interaction.created"), {"analytics", "notification"}),
    (record("sms", "interaction.created", direction="outbound"), {"analytics"}),
    (record("chat", "MessageCreated", direction=None), {"analytics"}),
    (record("voice", "interaction.created", direction="inbound"), {"analytics"}),
])
def test_default_routes(rec: dict[str, Any], expected: set[str]) -> None:
    assert routed(rec) == expected


def test_a_route_file_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "routes.json").write_text(
        '{"routes": [{"name": "x", "any": [{"channel": ["sms"]}]}]}')
    with pytest.raises(MappingError, match="unknown keys"):
        load_routes(tmp_path)
