"""Realistic webhook bodies for the benchmark, from the simulator's seeded generators."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cxone_router.mapping import Normalizer
from cxone_router.payload import decode
from cxone_router.settings import REPO_ROOT
from cxone_router.simulate.generators import Traffic
from cxone_router.simulate.profiles import Profile


@dataclass(frozen=True, slots=True)
class Webhook:
    body: bytes
    content_type: str
    key: bytes  # the partition key the edge would choose


def webhooks(count: int, seed: int = 1, schemas_dir: Path = REPO_ROOT / "schemas"
             ) -> list[Webhook]:
    """`count` distinct, well-formed events (no redeliveries, no malformed ones)."""
    normalizer = Normalizer.from_dir(schemas_dir)
    profile = Profile(rate=None, redeliveries=0.0, malformed=0.0, drift=0.1)
    out = []
    for event in Traffic(profile, seed=seed, epoch=time.time()):
        payload = decode(event.body, event.content_type)
        key = normalizer.interaction_id(payload) or normalizer.keys(payload).event_id
        out.append(Webhook(event.body, event.content_type, key.encode()))
        if len(out) == count:
            return out
    return out
