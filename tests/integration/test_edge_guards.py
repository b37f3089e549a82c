"""Edges with authentication and a rate limit, over real HTTP: what they refuse is not published."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator

import orjson
import pytest

from cxone_router.samples import brief
from cxone_router.stack import Stack
from tests.integration.harness import Broker, edge_only, post, read

pytestmark = [
    pytest.mark.integration,
    # what the edge refuses never reaches a broker: the same on any (the suite's time
    # goes to what differs between brokers)
    pytest.mark.parametrize("broker", ["embedded"], indirect=True),
]
SECRET = "integration-secret"


@pytest.fixture(scope="module")
def signed_edge(broker: Broker) -> Iterator[Stack]:
    yield from edge_only(broker, CXR_EDGE_AUTH="hmac", CXR_EDGE_HMAC_SECRETS=SECRET)


@pytest.fixture(scope="module")
def limited_edge(broker: Broker) -> Iterator[Stack]:
    yield from edge_only(broker, CXR_EDGE_RATE_LIMIT="5")


async def test_only_signed_webhooks_are_accepted_and_published(signed_edge: Stack) -> None:
    import httpx

    unsigned = orjson.dumps(brief("interaction.created", "unsigned-1", "sms"))
    good = orjson.dumps(brief("interaction.created", "signed-1", "sms"))
    now = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), f"{now}.".encode() + good, hashlib.sha256).hexdigest()

    refused = await post(signed_edge, unsigned)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("HMAC-SHA256")
    async with httpx.AsyncClient() as client:
        accepted = await client.post(
            f"{signed_edge.edge_url}/webhooks/cxone", content=good,
            headers={"content-type": "application/json", "x-timestamp": now,
                     "x-signature": f"sha256={signature}"})
    assert accepted.status_code == 202

    records = await read(signed_edge, [signed_edge.topics.raw],
                         lambda rs: any(r.value == good for r in rs))
    assert good in {r.value for r in records}
    assert unsigned not in {r.value for r in records}


async def test_over_the_rate_limit_the_edge_answers_429_and_publishes_nothing(
        limited_edge: Stack) -> None:
    bodies = [orjson.dumps(brief("interaction.created", f"burst-{i}", "chat")) for i in range(30)]
    answers = [await post(limited_edge, body) for body in bodies]
    accepted = [b for b, a in zip(bodies, answers, strict=True) if a.status_code == 202]
    refused = [b for b, a in zip(bodies, answers, strict=True) if a.status_code == 429]
    assert len(accepted) + len(refused) == len(bodies)
    assert 5 <= len(accepted) < len(bodies) and refused
    assert all(int(a.headers["retry-after"]) > 0 for a in answers if a.status_code == 429)

    records = await read(limited_edge, [limited_edge.topics.raw],
                         lambda rs: set(accepted) <= {r.value for r in rs})
    published = {r.value for r in records}
    assert set(accepted) <= published and not published & set(refused)
