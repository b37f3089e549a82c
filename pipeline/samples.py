"""A small built-in set of CXone webhooks, one per shape and channel, for `make run`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson

from cxone_router.ops.times import utc_iso

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Sample:
    label: str
    body: bytes
    content_type: str
    expect: str  # "voice" | "chat" | "sms" | "email" | "dlq" | "rejected"


def _now() -> str:
    return utc_iso(datetime.now(UTC))


def brief(event_type: str, interaction_id: str, channel: str, *, drifted: bool = False,
          customer: dict[str, str] | None = None, **data: Any) -> dict[str, Any]:
    """The original brief's simplified interaction webhook."""
    if customer is None:
        customer = ({"email": "customer@example.com"} if channel == "email"
                    else {"phoneNumber": "+15550100" + str(sum(map(ord, interaction_id)) % 1000)})
    body: dict[str, Any] = {"id": interaction_id, "channelType": channel, "direction": "inbound",
                            "queue": {"name": "Sales"}, "skill": {"name": "Support"}, **data}
    if drifted:
        body["participants"] = [customer]
    else:
        body["customer"] = customer
    return {"webhookId": "wh-demo", "eventType": event_type, "timestamp": _now(), "data": body}


def dfo(event_type: str, interaction_id: str, box: str, *, status: str = "open",
        text: str = "Hello", renamed: bool = False) -> dict[str, Any]:
    """A Digital First Omnichannel event; `renamed` uses `data.contact` (newer tenants)."""
    case = {"id": "1319883425", "interactionId": interaction_id, "contactId": str(uuid.uuid4()),
            "status": status, "direction": "inbound", "routingQueueId": "q-support",
            "endUser": {"identities": [{"idOnExternalPlatform": "customer@example.com"
                                        if box == "email" else "+15550100777"}]}}
    return {
        "eventId": str(uuid.uuid4()), "eventObject": "Case", "eventType": event_type,
        "createdAt": _now(), "createdAtWithMilliseconds": _now(),
        "data": {
            "brand": {"tenantId": "11e885fb-cfb6-0c20-bb51-0242ac110002",
                      "businessUnitId": 4597607},
            "channel": {"integrationBoxIdentifier": box, "realExternalPlatformId": box},
            ("contact" if renamed else "case"): case,
            "message": {"messageContent": {"text": text}, "direction": "inbound"},
        },
        "context": [],
    }


STUDIO_SYSTEM_VARIABLES = ("contactId", "masterId", "ani", "dnis", "skill")


def studio_voice(contact_id: str, status: str, *, uppercase: bool = False) -> dict[str, str]:
    """Form fields a CXone Studio script's REST action posts for a call; `uppercase` names
    the system variables as CXone does (`CONTACTID`, `MASTERID`, `ANI`, `DNIS`, `SKILL`)."""
    fields = {"contactId": contact_id, "masterId": contact_id, "ani": "+15550100123",
              "dnis": "+18005550199", "skill": "Billing", "isInbound": "true", "status": status,
              "startTimeUtc": _now()}
    if uppercase:
        return {(k.upper() if k in STUDIO_SYSTEM_VARIABLES else k): v for k, v in fields.items()}
    return fields


def demo_samples() -> list[Sample]:
    first = brief("interaction.created", "demo-voice-001", "voice")
    samples = [
        Sample("brief voice created", orjson.dumps(first), JSON, "voice"),
        Sample("brief voice created (redelivered)", orjson.dumps(first), JSON, "voice"),
        Sample("brief voice completed", orjson.dumps(
            brief("interaction.completed", "demo-voice-001", "voice")), JSON, "voice"),
        Sample("brief sms, customer drifted to participants[0]", orjson.dumps(
            brief("interaction.created", "demo-sms-002", "sms", drifted=True,
                  message={"body": "Where is my order?"})), JSON, "sms"),
        Sample("DFO chat MessageCreated", orjson.dumps(
            dfo("MessageCreated", str(uuid.uuid4()), "chat")), JSON, "chat"),
        Sample("DFO email CaseStatusChanged closed (data.contact)", orjson.dumps(
            dfo("CaseStatusChanged", str(uuid.uuid4()), "email", status="closed",
                renamed=True)), JSON, "email"),
        Sample("Studio voice form post", urlencode(
            studio_voice("5551234", "Disconnected")).encode(), FORM, "voice"),
        Sample("malformed JSON", b'{"eventType": "interaction.created", ', JSON, "rejected"),
        Sample("unknown channel", orjson.dumps(
            {"eventId": str(uuid.uuid4()), "eventType": "Ping", "data": {"id": "x"}}), JSON,
            "dlq"),
    ]
    return samples
