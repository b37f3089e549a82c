"""Properties of the seeded traffic stream, over many seeds.

Invariants: a seed and an epoch fix every byte; each interaction goes created -> updated* ->
completed and every event names it; redeliveries repeat earlier bytes exactly; bodies decode
in the shape their content type promises; shares are honoured on large samples.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qsl

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cxone_router.simulate.conversations import new_conversation
from cxone_router.simulate.events import (
    CHANNELS,
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    Channel,
    SimEvent,
)
from cxone_router.simulate.generators import Traffic
from cxone_router.simulate.profiles import Profile
from cxone_router.simulate.shapes import dfo, simplified, studio

EPOCH = 1_780_000_000.0
seeds = st.integers(min_value=0, max_value=2**64 - 1)
STUDIO_FIELDS = {
    "contactId", "masterId", "ani", "dnis", "skill", "isInbound", "status", "startTimeUtc",
    "interactionId", "eventType", "eventId",
}  # fmt: skip
DFO_EVENT_TYPES = {
    "CaseCreated", "MessageCreated", "MessageAddedIntoCase", "CaseInboxAssigneeChanged",
    "CaseStatusChanged",
}  # fmt: skip
BUSY = Profile(redeliveries=0.1, drift=0.3, malformed=0.05, simplified=0.4)


def _take(profile: Profile, seed: int, n: int) -> list[SimEvent]:
    traffic = Traffic(profile, seed=seed, epoch=EPOCH)
    return [next(traffic) for _ in range(n)]


def _decode(event: SimEvent) -> dict[str, Any]:
    if event.content_type == FORM_CONTENT_TYPE:
        pairs = parse_qsl(event.body.decode(), strict_parsing=True)
        assert len({k for k, _ in pairs}) == len(pairs), "no repeated form fields"
        return dict(pairs)
    assert event.content_type == JSON_CONTENT_TYPE
    payload = orjson.loads(event.body)
    assert isinstance(payload, dict)
    return payload


def _facts(event: SimEvent, payload: dict[str, Any]) -> tuple[str, str]:
    """(interaction id, channel) as the body itself states them, per shape."""
    if event.shape == "studio":
        return payload["interactionId"], "voice"
    if event.shape == "dfo":
        case = payload["data"]["contact" if event.kind == "drifted" else "case"]
        return case["interactionId"], payload["data"]["channel"]["integrationBoxIdentifier"]
    return payload["data"]["id"], payload["data"]["channelType"]


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_a_seed_and_an_epoch_fix_every_byte(seed: int) -> None:
    assert _take(BUSY, seed, 300) == _take(BUSY, seed, 300)


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_lifecycles_run_created_to_completed_under_one_interaction_id(seed: int) -> None:
    stages: dict[str, list[str]] = defaultdict(list)
    for event in _take(BUSY, seed, 800):
        if event.kind in ("malformed", "redelivery"):
            continue
        payload = _decode(event)
        assert _facts(event, payload) == (event.interaction_id, event.channel)
        assert event.interaction_id is not None and event.stage is not None
        stages[event.interaction_id].append(event.stage)
    assert any(s[-1] == "completed" for s in stages.values()), "some lifecycle completes"
    for sequence in stages.values():
        assert sequence[0] == "created"
        assert "created" not in sequence[1:]
        assert "completed" not in sequence[:-1]


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_redeliveries_repeat_an_earlier_event_byte_for_byte(seed: int) -> None:
    earlier: set[bytes] = set()
    redeliveries = 0
    for event in _take(BUSY, seed, 600):
        if event.kind == "redelivery":
            assert event.body in earlier
            redeliveries += 1
        elif event.kind != "malformed":
            assert event.body not in earlier, "a first delivery is never a repeat"
            earlier.add(event.body)
    assert redeliveries > 0


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_bodies_decode_as_their_shape_promises(seed: int) -> None:
    event_ids: set[str] = set()
    for event in _take(BUSY, seed, 600):
        if event.kind in ("malformed", "redelivery"):
            continue
        payload = _decode(event)
        if event.shape == "studio":
            assert payload.keys() >= STUDIO_FIELDS
            assert payload["isInbound"] in ("true", "false")
            assert payload["ani"].startswith("+") and payload["dnis"].startswith("+")
            event_id = payload["eventId"]
        elif event.shape == "dfo":
            assert payload["eventType"] in DFO_EVENT_TYPES
            data = payload["data"]
            assert ("contact" in data) == (event.kind == "drifted") != ("case" in data)
            assert event.channel in ("chat", "sms", "email")
            event_id = payload["eventId"]
        else:
            data = payload["data"]
            assert payload["eventType"] == event.event_type
            customer = data["participants"][0] if event.kind == "drifted" else data["customer"]
            assert ("phoneNumber" in customer) or ("@" in customer["email"])
            event_id = payload["webhookId"]
        assert event_id not in event_ids, "every event has its own id"
        event_ids.add(event_id)


@settings(max_examples=10, deadline=None)
@given(seed=seeds, drifted=st.booleans(), channel=st.sampled_from(CHANNELS))
def test_each_shape_closes_what_it_opens(seed: int, drifted: bool, channel: Channel) -> None:
    rng = random.Random(seed)
    conversation = new_conversation(rng, channel)
    shapes = [simplified] + ([studio] if channel == "voice" else [dfo])
    for shape in shapes:
        steps = shape.lifecycle(conversation, rng, drifted)
        assert [s.stage for s in steps[:1] + steps[-1:]] == ["created", "completed"]
        assert {s.stage for s in steps[1:-1]} <= {"updated"}
        last = steps[-1].render(EPOCH)
        if shape is dfo:
            closing = orjson.loads(last)
            assert closing["eventType"] == "CaseStatusChanged"
            assert closing["data"]["contact" if drifted else "case"]["status"] == "closed"


@settings(max_examples=4, deadline=None, derandomize=True)
@given(seed=seeds)
def test_shares_are_honoured_on_large_samples(seed: int) -> None:
    mix: dict[Channel, float] = {"voice": 0.1, "chat": 0.2, "sms": 0.3, "email": 0.4}
    profile = Profile(
        channels=mix, simplified=0.4, redeliveries=0.1, drift=0.2, malformed=0.02
    )  # fmt: skip
    events = _take(profile, seed, 30_000)
    n = len(events)
    assert abs(sum(e.kind == "malformed" for e in events) / n - 0.02) < 0.006
    assert abs(sum(e.kind == "redelivery" for e in events) / n - 0.1) < 0.012

    starts = [e for e in events if e.stage == "created" and e.kind != "redelivery"]
    for channel, share in mix.items():
        assert abs(sum(e.channel == channel for e in starts) / len(starts) - share) < 0.04
    assert abs(sum(e.shape == "simplified" for e in starts) / len(starts) - 0.4) < 0.04
    json_starts = [e for e in starts if e.shape != "studio"]
    assert abs(sum(e.kind == "drifted" for e in json_starts) / len(json_starts) - 0.2) < 0.04


@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_zero_shares_mean_none_at_all(seed: int) -> None:
    quiet = Profile(redeliveries=0, drift=0, malformed=0, channels={"sms": 1})
    events = _take(quiet, seed, 300)
    assert {e.kind for e in events} == {"original"}
    assert {e.channel for e in events} == {"sms"}
