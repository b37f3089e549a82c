"""Hostile and careless clients at a running edge, over raw sockets: slow heads and bodies
are cut off, oversized heads refused, nobody is locked out, and authentication runs before
the edge waits for a body."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from cxone_router.kafka.embedded import free_port
from cxone_router.samples import brief
from cxone_router.stack import Stack
from tests.integration.harness import edge_only, post
from tests.integration.test_operator_errors import assert_one_line, minimal_env, run_cli

pytestmark = pytest.mark.integration
HEAD_TIMEOUT, BODY_TIMEOUT, MAX_CONNECTIONS, TOKEN = 1.0, 1.0, 8, "t0k3n"
WEBHOOK_HEAD = b"POST /webhooks/cxone HTTP/1.1\r\nHost: edge\r\ncontent-type: application/json\r\n"


@pytest.fixture(scope="module")
def guarded() -> Iterator[Stack]:
    yield from edge_only(None, CXR_EDGE_HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT),
                     CXR_EDGE_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
                     CXR_EDGE_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
                     CXR_EDGE_MAX_HEADER_BYTES="4096",
                     CXR_EDGE_ADMIN_PORT=str(free_port()))


@pytest.fixture(scope="module")
def bearer() -> Iterator[Stack]:
    yield from edge_only(None, CXR_EDGE_AUTH="bearer", CXR_EDGE_BEARER_TOKENS=TOKEN,
                     CXR_EDGE_RATE_LIMIT="5")


def _connect(stack: Stack) -> socket.socket:
    host, port = stack.edge_url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=15)
    return sock


def _answer(sock: socket.socket) -> tuple[int, bytes, bool]:
    """(status, whole answer, whether the edge closed the connection after it)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return int(data.split(b" ", 2)[1]), data, True


def test_a_slow_head_is_answered_408_and_closed(guarded: Stack) -> None:
    with _connect(guarded) as sock:
        sock.sendall(WEBHOOK_HEAD)  # and never the blank line that ends the head
        started = time.monotonic()
        status, data, closed = _answer(sock)
    assert (status, closed) == (408, True)
    assert b"request headers not received within" in data
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("sent", [b"", b'{"eventId":"slow"'], ids=["nothing", "part"])
def test_a_body_short_of_its_content_length_is_answered_408_and_closed(
        guarded: Stack, sent: bytes) -> None:
    with _connect(guarded) as sock:
        sock.sendall(WEBHOOK_HEAD + b"content-length: 1000\r\n\r\n" + sent)
        status, data, closed = _answer(sock)
    assert (status, closed) == (408, True)
    assert orjson.loads(data.split(b"\r\n\r\n", 1)[1])["error"].startswith(
        "body not received within")


def test_a_head_over_the_limit_is_answered_431_before_it_is_all_read(guarded: Stack) -> None:
    with _connect(guarded) as sock:
        sock.sendall(WEBHOOK_HEAD + b"x-padding: " + b"a" * 8192 + b"\r\n\r\n")
        status, data, closed = _answer(sock)
    assert (status, closed) == (431, True)
    with _connect(guarded) as sock:  # one header streamed without end: cut off, not parsed
        sock.sendall(WEBHOOK_HEAD + b"x-padding: ")
        status = 0
        for _ in range(64):
            try:
                sock.sendall(b"a" * 65536)
            except OSError:  # the edge closed the connection
                break
        status, _, _ = _answer(sock)
    assert status == 431


async def test_slow_clients_at_the_connection_cap_do_not_lock_others_out(
        guarded: Stack) -> None:
    """Holding every connection with heads that never end used to answer everyone 503 for
    as long as they liked; now they are cut off after the head deadline, and the admin
    port (a connection cap of its own) answers throughout."""
    hogs = [_connect(guarded) for _ in range(MAX_CONNECTIONS)]
    try:
        for hog in hogs:
            hog.sendall(WEBHOOK_HEAD)
        async with httpx.AsyncClient(timeout=5) as client:
            admin = await client.get(f"{guarded.edge_admin_url}/healthz")
            assert admin.status_code == 200
            deadline = time.monotonic() + HEAD_TIMEOUT + 10
            while (status := (await post(guarded, brief("interaction.created", "after-hogs",
                                                          "sms"))).status_code) != 202:
                assert status == 503, status
                assert time.monotonic() < deadline, "still locked out after the head deadline"
    finally:
        for hog in hogs:
            hog.close()


async def test_readiness_and_metrics_move_to_the_admin_port(guarded: Stack) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        ready = await client.get(f"{guarded.edge_admin_url}/readyz")
        metrics = await client.get(f"{guarded.edge_admin_url}/metrics")
        public_metrics = await client.get(f"{guarded.edge_url}/metrics")
        public_health = await client.get(f"{guarded.edge_url}/healthz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "detail": "ok"}
    assert metrics.status_code == 200 and 'cxr_edge_requests_total{handler="webhook"' in (
        metrics.text)
    assert 'status="408"' in metrics.text  # the answers given before the app, counted too
    assert public_metrics.status_code == 404
    assert public_health.status_code == 200  # a load balancer's probe stays


def test_bearer_credentials_are_checked_before_the_body_is_read(bearer: Stack) -> None:
    with _connect(bearer) as sock:  # a body is announced and never sent
        sock.sendall(WEBHOOK_HEAD + b"authorization: Bearer wrong\r\n"
                     b"content-length: 1000\r\n\r\n")
        sock.settimeout(5)  # the body deadline is 15 s: a 401 must come before it
        data = sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 401 "), data[:80]


async def test_refused_strangers_do_not_spend_the_rate_limit(bearer: Stack) -> None:
    body = orjson.dumps(brief("interaction.created", "rate-1", "sms"))
    async with httpx.AsyncClient(timeout=10) as client:
        url = f"{bearer.edge_url}/webhooks/cxone"
        strangers = [await client.post(url, content=body, headers={
            "content-type": "application/json", "authorization": "Bearer nope"})
            for _ in range(30)]
        assert {r.status_code for r in strangers} == {401}
        sender = await client.post(url, content=body, headers={
            "content-type": "application/json", "authorization": f"Bearer {TOKEN}"})
    assert sender.status_code == 202


async def test_a_repeated_credential_header_is_refused(bearer: Stack) -> None:
    body = orjson.dumps(brief("interaction.created", "dup-1", "sms"))
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(
            f"{bearer.edge_url}/webhooks/cxone", content=body,
            headers=[("content-type", "application/json"),
                     ("authorization", f"Bearer {TOKEN}"), ("authorization", "Bearer other")])
    assert answer.status_code == 401
    assert answer.json()["error"] == "more than one Authorization header"


def test_the_edge_on_a_busy_port_says_so_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err, _ = run_cli(["edge"], minimal_env(
            CXR_KAFKA_BOOTSTRAP="127.0.0.1:1", CXR_EDGE_PORT=str(port),
            CXR_LOG_FORMAT="console"), timeout=60)
    line = assert_one_line(out, err)
    assert code != 0
    assert f"127.0.0.1:{port}" in line and "CXR_EDGE_PORT" in line
    assert "Unclosed" not in out + err


def test_the_rest_of_a_body_answered_early_is_not_taken_for_the_next_head(
        guarded: Stack) -> None:
    """A 413 comes at once from Content-Length; the body the sender goes on writing is
    still that request's, not a head over the size limit (it was answered 431 and the
    connection reset under the sender: seen in a fresh-clone run)."""
    with _connect(guarded) as sock:
        sock.sendall(WEBHOOK_HEAD + b"content-length: 2000000\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 413 "), first[:80]
        sock.sendall(b"x" * 100_000)  # far over the 4 KiB head limit, all of it body
        sock.settimeout(0.5)
        try:
            more = sock.recv(65536)
        except TimeoutError:
            more = b""
    assert b"431" not in more, more[:80]
