"""Voice contacts as a Studio script's REST action posts them: flat form fields.

The fields are the ones CXone itself uses for call events, plus `eventType`, `eventId` and
`eventTimeUtc`, which a script author adds so the receiver can order and deduplicate.
Studio posts have no known drift: the script author fixes the field names.
"""

from __future__ import annotations

import random
from urllib.parse import urlencode

from cxone_router.simulate import fakes
from cxone_router.simulate.conversations import Conversation, Render, Step, iso_millis_z
from cxone_router.simulate.events import Stage

_EVENT_TYPE: dict[Stage, str] = {
    "created": "interaction.created",
    "updated": "interaction.updated",
    "completed": "interaction.completed",
}


def _render(
    conv: Conversation,
    stage: Stage,
    status: str,
    event_id: str,
    master_id: str,
    agent: bool,
    started: list[float],
) -> Render:
    def render(at: float) -> bytes:
        if not started:
            started.append(at)
        customer, company = conv.customer_phone, conv.company_number
        fields = [
            ("contactId", conv.case_id),
            ("masterId", master_id),
            ("ani", customer if conv.inbound else company),
            ("dnis", company if conv.inbound else customer),
            ("skill", conv.skill),
            ("isInbound", "true" if conv.inbound else "false"),
            ("status", status),
            ("startTimeUtc", iso_millis_z(started[0])),
            ("interactionId", conv.interaction_id),
            ("eventType", _EVENT_TYPE[stage]),
            ("eventId", event_id),
            ("eventTimeUtc", iso_millis_z(at)),
        ]
        if agent:
            fields.append(("agentName", conv.agent_name))
        return urlencode(fields).encode()

    return render


def lifecycle(conv: Conversation, rng: random.Random, drifted: bool) -> list[Step]:
    del drifted  # a Studio script posts the fields it was written to post
    statuses: list[tuple[Stage, str, bool]] = (
        [("created", "Incoming", False), ("updated", "InQueue", False)]
        if conv.inbound
        else [("created", "Dialing", False)]
    )
    statuses.append(("updated", "Active", True))
    if rng.random() < 0.3:
        statuses += [("updated", "Holding", True), ("updated", "Active", True)]
    statuses.append(("completed", "Disconnected", True))
    master_id = conv.case_id if rng.random() < 0.8 else fakes.numeric_id(rng)
    started: list[float] = []
    return [
        Step(
            stage,
            _EVENT_TYPE[stage],
            _render(conv, stage, status, fakes.uuid4(rng), master_id, agent, started),
        )
        for stage, status, agent in statuses
    ]
