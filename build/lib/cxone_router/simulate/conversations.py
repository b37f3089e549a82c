"""One simulated customer interaction: the facts every event of its lifecycle repeats.

A shape module turns a `Conversation` into `Step`s; a step renders its body only when the
traffic stream reaches it, stamped with the stream's clock, so interleaved lifecycles keep
their timestamps in sending order.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cxone_router.ops.times import utc_iso
from cxone_router.simulate import fakes
from cxone_router.simulate.events import Channel, Stage

Render = Callable[[float], bytes]


@dataclass(frozen=True, slots=True)
class Step:
    stage: Stage
    event_type: str
    render: Render
    """Unix time of sending -> request body."""


@dataclass(frozen=True, slots=True)
class Conversation:
    channel: Channel
    interaction_id: str
    contact_id: str
    case_id: str
    inbound: bool
    customer_first: str
    customer_last: str
    customer_phone: str
    customer_email: str
    customer_chat_id: str
    company_number: str
    queue: str
    queue_id: str
    skill: str
    order: str
    agent_id: int
    agent_first: str
    agent_last: str
    tenant_id: str
    business_unit_id: int
    brand_id: int
    channel_uuid: str

    @property
    def customer_address(self) -> str:
        """How the channel knows the customer: a number, an address or a chat id."""
        if self.channel in ("voice", "sms"):
            return self.customer_phone
        if self.channel == "email":
            return self.customer_email
        return self.customer_chat_id

    @property
    def customer_name(self) -> str:
        return f"{self.customer_first} {self.customer_last}"

    @property
    def agent_name(self) -> str:
        return f"{self.agent_first} {self.agent_last}"


# A handful of tenants, as a real deployment sees a few business units, not one per contact.
_TENANTS = (
    ("11e885fb-cfb6-0c20-bb51-0242ac110002", 4597607, 1386),
    ("11eb2c6e-8f0a-4a6b-9c1d-0242ac110003", 4601122, 1412),
    ("11ec91d4-27b3-4e58-a0f2-0242ac110004", 4612980, 1507),
)


def new_conversation(rng: random.Random, channel: Channel) -> Conversation:
    first, last = fakes.person_name(rng)
    agent_first, agent_last = fakes.person_name(rng)
    tenant_id, business_unit_id, brand_id = rng.choice(_TENANTS)
    return Conversation(
        channel=channel,
        interaction_id=fakes.uuid4(rng),
        contact_id=fakes.uuid4(rng),
        case_id=fakes.numeric_id(rng),
        inbound=rng.random() < (0.8 if channel == "voice" else 0.9),
        customer_first=first,
        customer_last=last,
        customer_phone=fakes.phone_number(rng),
        customer_email=fakes.email_address(rng, first, last),
        customer_chat_id=fakes.chat_identity(rng),
        company_number=fakes.company_number(rng),
        queue=rng.choice(fakes.QUEUES),
        queue_id=fakes.uuid4(rng),
        skill=rng.choice(fakes.SKILLS[channel]),
        order=fakes.order_number(rng),
        agent_id=rng.randint(1000, 99999),
        agent_first=agent_first,
        agent_last=agent_last,
        tenant_id=tenant_id,
        business_unit_id=business_unit_id,
        brand_id=brand_id,
        channel_uuid=fakes.uuid4(rng),
    )


def iso_millis_z(at: float) -> str:
    """`2026-11-28T15:22:44.123Z`, the simplified webhook's `timestamp`."""
    return utc_iso(datetime.fromtimestamp(at, UTC))


def iso_seconds_offset(at: float) -> str:
    """`2026-11-28T15:22:44+00:00`, DFO's `createdAt`."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def iso_millis_offset(at: float) -> str:
    """`2026-11-28T15:22:44.123+00:00`, DFO's `createdAtWithMilliseconds`."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
