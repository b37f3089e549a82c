"""What real senders send, over real HTTP to a running edge (signed, as CXone's would be):
compressed bodies, a byte-order mark, a trailing slash; and every answer is JSON."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import time
import uuid
import zlib
from collections.abc import Iterator

import httpx
import orjson
import pytest

from cxone_router.samples import brief
from cxone_router.stack import Stack
from tests.integration.harness import Broker, edge_only, read

pytestmark = [
    pytest.mark.integration,
    # the edge's reading of a request is the same on any broker
    pytest.mark.parametrize("broker", ["embedded"], indirect=True),
]
SECRET = "senders-secret"


@pytest.fixture(scope="module")
def edge(broker: Broker) -> Iterator[Stack]:
    yield from edge_only(broker, CXR_EDGE_AUTH="hmac", CXR_EDGE_HMAC_SECRETS=SECRET,
                         CXR_MAX_BODY_BYTES="65536")


def signed(body: bytes, **headers: str) -> dict[str, str]:
    """Signed over the bytes as sent (compressed, when they are)."""
    now = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-timestamp": now,
            "x-signature": f"sha256={digest}", **headers}


async def send(stack: Stack, body: bytes, path: str = "/webhooks/cxone",
               **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(f"{stack.edge_url}{path}", content=body,
                                 headers=signed(body, **headers))


def event() -> bytes:
    return orjson.dumps(brief("interaction.created", f"sender-{uuid.uuid4().hex[:8]}", "chat"))


async def test_gzip_and_deflate_bodies_are_decoded_and_stored_decoded(edge: Stack) -> None:
    plain = {name: event() for name in ("gzip", "deflate", "raw-deflate", "x-gzip, identity")}
    raw_deflate = zlib.compressobj(wbits=-15)
    sent = {
        "gzip": gzip.compress(plain["gzip"]),
        "deflate": zlib.compress(plain["deflate"]),
        "raw-deflate": raw_deflate.compress(plain["raw-deflate"]) + raw_deflate.flush(),
        "x-gzip, identity": gzip.compress(plain["x-gzip, identity"]),
    }
    for name, body in sent.items():
        coding = "deflate" if name == "raw-deflate" else name
        answer = await send(edge, body, **{"content-encoding": coding})
        assert answer.status_code == 202, (name, answer.text)
    records = await read(edge, [edge.topics.raw],
                         lambda rs: set(plain.values()) <= {r.value for r in rs})
    assert set(plain.values()) <= {r.value for r in records}  # what workers and dlq read
    assert not set(sent.values()) & {r.value for r in records}


async def test_an_unknown_coding_is_415_naming_what_is_accepted(edge: Stack) -> None:
    body = event()
    answer = await send(edge, body, **{"content-encoding": "br"})
    assert answer.status_code == 415
    assert answer.headers["accept-encoding"] == "gzip, deflate"
    assert answer.json() == {"status": "rejected", "error": (
        "unsupported content coding 'br'; send the body plain or with gzip, deflate")}


async def test_a_gzip_bomb_is_413_and_a_truncated_body_400(edge: Stack) -> None:
    bomb = gzip.compress(b"{" + b" " * 50_000_000 + b"}", compresslevel=9)  # 49 KiB sent
    assert len(bomb) < 65536
    answer = await send(edge, bomb, **{"content-encoding": "gzip"})
    assert answer.status_code == 413 and "once gzip-decoded" in answer.json()["error"]
    cut = gzip.compress(event())[:-12]
    answer = await send(edge, cut, **{"content-encoding": "gzip"})
    assert answer.status_code == 400 and "invalid gzip body" in answer.json()["error"]


async def test_a_byte_order_mark_and_a_trailing_slash_are_taken(edge: Stack) -> None:
    with_bom = b"\xef\xbb\xbf" + event()
    assert (await send(edge, with_bom)).status_code == 202
    slash = await send(edge, event(), path="/webhooks/cxone/")
    assert slash.status_code == 202 and slash.json()["status"] == "accepted"


async def test_every_answer_is_json_the_method_the_path_and_a_bad_timestamp(
        edge: Stack) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        wrong_method = await client.get(f"{edge.edge_url}/webhooks/cxone")
        nowhere = await client.post(f"{edge.edge_url}/webhooks/nowhere", content=b"{}")
        body = event()
        late = await client.post(f"{edge.edge_url}/webhooks/cxone", content=body, headers={
            **signed(body), "x-timestamp": "2026-12-06T10:00:00Z"})
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["status"] == "rejected"
    assert nowhere.status_code == 404 and nowhere.json()["status"] == "rejected"
    assert late.status_code == 401
    assert "Unix time of the request in seconds or milliseconds" in late.json()["error"]
