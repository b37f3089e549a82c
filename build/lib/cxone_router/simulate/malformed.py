"""Bodies a careless or broken sender posts: two the edge must refuse with 400, two it
accepts but the pipeline must dead-letter (no recognisable channel, no interaction id)."""

from __future__ import annotations

import random

import orjson

from cxone_router.simulate import fakes
from cxone_router.simulate.conversations import iso_millis_z
from cxone_router.simulate.events import JSON_CONTENT_TYPE, SimEvent

VARIANTS = ("truncated-json", "json-array", "unknown-channel", "no-interaction-id")


def malformed_event(rng: random.Random, at: float) -> SimEvent:
    variant = rng.choice(VARIANTS)
    interaction_id = fakes.uuid4(rng)
    data: dict[str, object] = {
        "id": interaction_id,
        "channelType": "chat",
        "direction": "inbound",
        "customer": {"email": "someone@example.com"},
        "message": {"body": "hello?"},
    }
    event = {
        "webhookId": fakes.uuid4(rng),
        "eventType": "interaction.created",
        "timestamp": iso_millis_z(at),
        "data": data,
    }
    if variant == "truncated-json":
        whole = orjson.dumps(event)
        body = whole[: rng.randint(1, len(whole) - 1)]
    elif variant == "json-array":
        body = orjson.dumps([event])
    elif variant == "unknown-channel":
        data["channelType"] = "carrier-pigeon"
        body = orjson.dumps(event)
    else:
        del data["id"]
        body = orjson.dumps(event)
    return SimEvent(
        body=body,
        content_type=JSON_CONTENT_TYPE,
        interaction_id=None,
        channel=None,
        shape=None,
        kind="malformed",
        stage=None,
        event_type=variant,
    )
