"""The brief's simplified interaction webhook: created, some updates, completed.

Drift, as seen on real tenants: the customer moves from `data.customer` to
`data.participants[0]`, with the agent as a second participant once one is assigned.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from cxone_router.simulate import fakes
from cxone_router.simulate.conversations import Conversation, Render, Step, iso_millis_z


def _customer(conv: Conversation) -> dict[str, str]:
    if conv.channel in ("voice", "sms"):
        return {"name": conv.customer_name, "phoneNumber": conv.customer_phone}
    return {"name": conv.customer_name, "email": conv.customer_email}


def _render(
    conv: Conversation,
    event_type: str,
    webhook_id: str,
    text: str | None,
    agent: bool,
    drifted: bool,
) -> Render:
    def render(at: float) -> bytes:
        data: dict[str, Any] = {
            "id": conv.interaction_id,
            "channelType": conv.channel,
            "direction": "inbound" if conv.inbound else "outbound",
        }
        if drifted:
            participants: list[dict[str, str]] = [{"role": "customer", **_customer(conv)}]
            if agent:
                participants.append({"role": "agent", "name": conv.agent_name})
            data["participants"] = participants
        else:
            data["customer"] = _customer(conv)
            if agent:
                data["agent"] = {"name": conv.agent_name}
        data["queue"] = {"name": conv.queue}
        data["skill"] = {"name": conv.skill}
        if text is not None:
            data["message"] = {"body": text}
        event = {
            "webhookId": webhook_id,
            "eventType": event_type,
            "timestamp": iso_millis_z(at),
            "data": data,
        }
        return orjson.dumps(event)

    return render


def lifecycle(conv: Conversation, rng: random.Random, drifted: bool) -> list[Step]:
    digital = conv.channel != "voice"
    first_text = fakes.customer_text(rng, conv.order) if digital else None
    steps = [
        Step(
            "created",
            "interaction.created",
            _render(conv, "interaction.created", fakes.uuid4(rng), first_text, False, drifted),
        )
    ]
    for turn in range(rng.randint(1, 4)):
        text = None
        if digital:
            text = (
                fakes.agent_text(rng, conv.order, conv.customer_first)
                if turn % 2 == 0
                else fakes.customer_text(rng, conv.order)
            )
        render = _render(conv, "interaction.updated", fakes.uuid4(rng), text, True, drifted)
        steps.append(Step("updated", "interaction.updated", render))
    render = _render(conv, "interaction.completed", fakes.uuid4(rng), None, True, drifted)
    steps.append(Step("completed", "interaction.completed", render))
    return steps
