"""The simulator and the pipeline's mappings agree, over seeds.

Invariants: every generated payload that is not malformed on purpose decodes as the edge
decodes it and normalizes to the channel and interaction id it was generated for, drift
included; every malformed one is refused by the edge (400) or dead-lettered by the mapping.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxone_router.dlq import DeadLetterError
from cxone_router.mapping import Normalizer
from cxone_router.payload import decode
from cxone_router.settings import REPO_ROOT
from cxone_router.simulate.generators import Traffic
from cxone_router.simulate.profiles import Profile

RECEIVED_AT_NS = 1_780_000_000_000_000_000
PROFILE = Profile(redeliveries=0.05, drift=0.5, malformed=0.05, simplified=0.5)


@cache
def normalizer() -> Normalizer:
    return Normalizer.from_dir(REPO_ROOT / "schemas")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**64 - 1))
def test_every_clean_payload_normalizes_to_its_channel_and_interaction(seed: int) -> None:
    traffic = Traffic(PROFILE, seed=seed, epoch=1_780_000_000.0)
    for event in (next(traffic) for _ in range(400)):
        if event.kind == "malformed":
            continue
        record = normalizer().normalize(decode(event.body, event.content_type), RECEIVED_AT_NS)
        assert record["channel"] == event.channel
        assert record["interactionId"] == event.interaction_id
        assert record["customer"]["identifier"], "the customer is found, drifted or not"


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**64 - 1))
def test_every_malformed_payload_is_refused_or_dead_lettered(seed: int) -> None:
    traffic = Traffic(Profile(malformed=1.0, redeliveries=0.0), seed=seed, epoch=1_780_000_000.0)
    for event in (next(traffic) for _ in range(20)):
        with pytest.raises(DeadLetterError):  # InvalidPayload or a mapping's
            normalizer().normalize(decode(event.body, event.content_type), RECEIVED_AT_NS)
