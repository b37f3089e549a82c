"""An endless, seeded stream of CXone traffic: many interactions in flight at once.

`Traffic(profile, seed=..., epoch=...)` is an iterator of `SimEvent`s. It keeps a pool of
open interactions and advances a random one per event, so lifecycles interleave as they do
in a contact center; each lifecycle's own events stay in order. Per event it may instead
repeat a recent event byte for byte (a redelivery) or emit a malformed body. The stream's
clock advances 1/rate per event from `epoch`, so timestamps match real sending time when the
sender holds the rate, and a seed plus an epoch fix every byte.

Generation is cheap (one dict and one orjson call per event), so it runs inline with sending.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace

from cxone_router.simulate.conversations import Conversation, Step, new_conversation
from cxone_router.simulate.events import (
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    Channel,
    Shape,
    SimEvent,
)
from cxone_router.simulate.malformed import malformed_event
from cxone_router.simulate.profiles import Profile
from cxone_router.simulate.shapes import dfo, simplified, studio

OPEN_INTERACTIONS = 32
"""Interactions in flight at once in the stream."""
REDELIVERY_WINDOW = 256
"""A redelivery repeats one of this many most recent first deliveries."""

_LIFECYCLES: dict[Shape, Callable[[Conversation, random.Random, bool], list[Step]]] = {
    "simplified": simplified.lifecycle,
    "dfo": dfo.lifecycle,
    "studio": studio.lifecycle,
}


class _Open:
    __slots__ = ("conversation", "shape", "drifted", "steps", "next")

    def __init__(self, conversation: Conversation, shape: Shape, drifted: bool, steps: list[Step]):
        self.conversation = conversation
        self.shape = shape
        self.drifted = drifted
        self.steps = steps
        self.next = 0


class Traffic(Iterator[SimEvent]):
    def __init__(self, profile: Profile, *, seed: int, epoch: float) -> None:
        self._profile = profile
        self._rng = random.Random(seed)
        self._clock = epoch
        self._tick = 1.0 / (profile.rate or 1000.0)
        self._channels: list[Channel] = [c for c, _ in profile.channel_weights]
        self._cum_weights: list[float] = []
        total = 0.0
        for _, weight in profile.channel_weights:
            total += weight
            self._cum_weights.append(total)
        self._open: list[_Open] = []
        self._recent: deque[SimEvent] = deque(maxlen=REDELIVERY_WINDOW)

    def __next__(self) -> SimEvent:
        at = self._clock
        self._clock += self._tick
        pick = self._rng.random()
        if pick < self._profile.malformed:
            return malformed_event(self._rng, at)
        if pick < self._profile.malformed + self._profile.redeliveries and self._recent:
            return replace(self._rng.choice(self._recent), kind="redelivery")
        event = self._advance(at)
        self._recent.append(event)
        return event

    def _advance(self, at: float) -> SimEvent:
        while len(self._open) < OPEN_INTERACTIONS:
            self._open.append(self._start())
        index = self._rng.randrange(len(self._open))
        interaction = self._open[index]
        step = interaction.steps[interaction.next]
        interaction.next += 1
        if interaction.next == len(interaction.steps):
            self._open[index] = self._open[-1]
            self._open.pop()
        conv = interaction.conversation
        return SimEvent(
            body=step.render(at),
            content_type=FORM_CONTENT_TYPE if interaction.shape == "studio" else JSON_CONTENT_TYPE,
            interaction_id=conv.interaction_id,
            channel=conv.channel,
            shape=interaction.shape,
            kind="drifted" if interaction.drifted else "original",
            stage=step.stage,
            event_type=step.event_type,
        )

    def _start(self) -> _Open:
        rng = self._rng
        channel = rng.choices(self._channels, cum_weights=self._cum_weights)[0]
        shape: Shape
        if rng.random() < self._profile.simplified:
            shape = "simplified"
        else:
            shape = "studio" if channel == "voice" else "dfo"
        drifted = shape != "studio" and rng.random() < self._profile.drift
        conversation = new_conversation(rng, channel)
        return _Open(conversation, shape, drifted, _LIFECYCLES[shape](conversation, rng, drifted))
