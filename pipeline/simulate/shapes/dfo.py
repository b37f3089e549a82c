"""Digital First Omnichannel events for chat, SMS and e-mail, as CXone's SDK fixtures show them.

A case opens (CaseCreated), the first message arrives (MessageCreated), routing assigns an
agent (CaseInboxAssigneeChanged), messages go back and forth (MessageCreated, sometimes
MessageAddedIntoCase), and the case closes (CaseStatusChanged to `closed`).
Drift, as on newer tenants: the case travels under `data.contact` instead of `data.case`.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from cxone_router.simulate import fakes
from cxone_router.simulate.conversations import (
    Conversation,
    Render,
    Step,
    iso_millis_offset,
    iso_seconds_offset,
)
from cxone_router.simulate.events import Stage

# `mediaType` 3 = chat is in CXone's fixtures; 1 = e-mail and 7 = SMS follow CXone's media
# type numbering elsewhere and are unconfirmed for DFO.
_MEDIA_TYPE = {"chat": 3, "email": 1, "sms": 7}
_CHANNEL_NAME = {"chat": "Web Chat", "email": "Support Mailbox", "sms": "SMS US"}


class _Case:
    """What the lifecycle changes as it goes: status, assignee, creation time."""

    def __init__(self) -> None:
        self.status = "new"
        self.created_at: str | None = None
        self.assignee: int | None = None


def _identity(conv: Conversation) -> dict[str, Any]:
    box = conv.channel
    return {
        "idOnExternalPlatform": conv.customer_address,
        "externalPlatformId": box,
        "id": f"{box}_{conv.customer_address}",
        "fullName": conv.customer_name,
    }


def _case(conv: Conversation, case: _Case, at: str) -> dict[str, Any]:
    box = conv.channel
    thread = f"{box}_{conv.channel_uuid}_{conv.contact_id}"
    return {
        "id": conv.case_id,
        "threadId": thread,
        "channelId": f"{box}_{conv.channel_uuid}",
        "interactionId": conv.interaction_id,
        "contactId": conv.contact_id,
        "status": case.status,
        "statusUpdatedAt": at,
        "routingQueueId": conv.queue_id,
        "routingQueuePriority": 1,
        "inboxAssignee": case.assignee,
        "direction": "inbound" if conv.inbound else "outbound",
        "createdAt": case.created_at,
        "authorEndUserIdentity": _identity(conv),
        "endUser": {
            "id": f"{box}_{conv.customer_address}",
            "fullName": conv.customer_name,
            "identities": [_identity(conv)],
        },
    }


def _message(
    conv: Conversation, message_id: str, text: str, inbound: bool, at: str
) -> dict[str, Any]:
    return {
        "id": message_id,
        "messageContent": {
            "text": text,
            "type": "TEXT",
            "payload": {"text": text, "postback": "", "elements": []},
            "fallbackText": "Unsupported message content",
            "isAutoTranslated": False,
        },
        "title": fakes.EMAIL_SUBJECTS[0].format(order=conv.order)
        if conv.channel == "email"
        else "",
        "createdAt": at,
        "isMadeByUser": not inbound,
        "direction": "inbound" if inbound else "outbound",
        "authorUser": None
        if inbound
        else {"id": conv.agent_id, "firstName": conv.agent_first, "surname": conv.agent_last},
        "authorEndUserIdentity": _identity(conv) if inbound else None,
    }


def _render(
    conv: Conversation,
    case: _Case,
    drifted: bool,
    event_type: str,
    event_id: str,
    change: str | None = None,
    message: tuple[str, str, bool] | None = None,
) -> Render:
    """`change` is what this event does to the case: a new status or "assign"."""

    def render(at: float) -> bytes:
        stamp = iso_seconds_offset(at)
        if case.created_at is None:
            case.created_at = stamp
        if change == "assign":
            case.assignee, case.status = conv.agent_id, "open"
        elif change is not None:
            case.status = change
        data: dict[str, Any] = {
            "brand": {
                "id": conv.brand_id,
                "tenantId": conv.tenant_id,
                "businessUnitId": conv.business_unit_id,
            },
            "channel": {
                "id": f"{conv.channel}_{conv.channel_uuid}",
                "idOnExternalPlatform": conv.channel_uuid,
                "name": _CHANNEL_NAME[conv.channel],
                "integrationBoxIdentifier": conv.channel,
                "realExternalPlatformId": conv.channel,
                "mediaType": _MEDIA_TYPE[conv.channel],
            },
            "contact" if drifted else "case": _case(conv, case, stamp),
        }
        if message is not None:
            message_id, text, inbound = message
            data["message"] = _message(conv, message_id, text, inbound, stamp)
        if change == "assign":
            data["inboxAssignee"] = {
                "id": conv.agent_id,
                "firstName": conv.agent_first,
                "surname": conv.agent_last,
            }
            data["routingQueue"] = {"id": conv.queue_id, "name": conv.queue}
        event: dict[str, Any] = {
            "eventId": event_id,
            "eventObject": "Message" if message is not None else "Case",
            "eventType": event_type,
            "createdAt": stamp,
            "createdAtWithMilliseconds": iso_millis_offset(at),
            "data": data,
            "context": [],
        }
        return orjson.dumps(event)

    return render


def lifecycle(conv: Conversation, rng: random.Random, drifted: bool) -> list[Step]:
    case = _Case()

    def step(stage: Stage, event_type: str, **kw: Any) -> Step:
        return Step(
            stage, event_type, _render(conv, case, drifted, event_type, fakes.uuid4(rng), **kw)
        )

    def message(inbound: bool) -> tuple[str, str, bool]:
        text = (
            fakes.customer_text(rng, conv.order)
            if inbound
            else fakes.agent_text(rng, conv.order, conv.customer_first)
        )
        return fakes.uuid4(rng), text, inbound

    steps = [
        step("created", "CaseCreated"),
        step("updated", "MessageCreated", message=message(conv.inbound)),
        step("updated", "CaseInboxAssigneeChanged", change="assign"),
    ]
    inbound = not conv.inbound
    for _ in range(rng.randint(1, 4)):
        kind = "MessageAddedIntoCase" if rng.random() < 0.3 else "MessageCreated"
        steps.append(step("updated", kind, message=message(inbound)))
        inbound = not inbound
    steps.append(step("completed", "CaseStatusChanged", change="closed"))
    return steps
