"""What the generators hand to the sender: one HTTP body plus what the body stands for.

The metadata lets the sender tally outcomes (a 400 for a deliberately malformed body is a
success of the simulation, for a clean one it is a failure) and lets tests check lifecycles
without parsing the body again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Channel = Literal["voice", "chat", "sms", "email"]
Shape = Literal["simplified", "dfo", "studio"]
Kind = Literal["original", "redelivery", "drifted", "malformed"]
Stage = Literal["created", "updated", "completed"]

CHANNELS: tuple[Channel, ...] = ("voice", "chat", "sms", "email")
JSON_CONTENT_TYPE = "application/json"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One request body, ready to post; `body` is never re-serialised on the way out."""

    body: bytes
    content_type: str
    interaction_id: str | None
    channel: Channel | None
    shape: Shape | None
    kind: Kind
    stage: Stage | None
    event_type: str
    """The shape's own name for the event (`CaseCreated`, `interaction.updated`...); for a
    malformed body, which way it is malformed."""
