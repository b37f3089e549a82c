"""An accepted webhook leaves no garbage that only the garbage collector can free.

The edge raises the collector's young threshold (pipeline/edge/app.py): that is cheap only
while what a webhook allocates is freed by reference counting, as it comes. Invariant: 300
webhooks through the edge's own HTTP protocol (uvicorn's, with the edge's hooks), handler
and producer, to a real broker, leave fewer objects in reference cycles than webhooks (a
cycle per request, as a closure stored on uvicorn's cycle once made, would leave
thousands).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections import Counter
from collections.abc import Iterator

import orjson
import pytest
import uvicorn

from cxone_router.edge.app import asgi_app, create_app, http_protocol
from cxone_router.samples import brief
from cxone_router.stack import Stack
from tests.integration.harness import Broker, make_stack

pytestmark = [pytest.mark.integration,
              pytest.mark.parametrize("broker", ["embedded"], indirect=True)]
WEBHOOKS = 300
CONNECTIONS = 6


@pytest.fixture
def stack(broker: Broker) -> Iterator[Stack]:
    running = make_stack(broker)
    running.start_broker()
    running.ensure_topics()
    yield running


def _request(i: int) -> bytes:
    body = orjson.dumps(brief("interaction.created", f"garbage-{i}", "chat"))
    return (b"POST /webhooks/cxone HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json"
            b"\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))


async def _sender(port: int, numbers: range) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses = []
    for i in numbers:
        writer.write(_request(i))
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        statuses.append(head[9:12])
    writer.close()
    await writer.wait_closed()
    return statuses


async def test_accepted_webhooks_leave_no_cyclic_garbage(stack: Stack) -> None:
    app = create_app(stack.settings, stack.bootstrap)
    edge = app.state.edge
    server = uvicorn.Server(uvicorn.Config(
        asgi_app(app), http=http_protocol(edge), lifespan="on", access_log=False,
        log_config=None, proxy_headers=False))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not edge.ready[0]:  # noqa: ASYNC110 - the edge polls its readiness too
            await asyncio.sleep(0.1)
        await _sender(port, range(20))  # connections and batches made once, not counted
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept, to be counted
        try:
            share = WEBHOOKS // CONNECTIONS
            answers = await asyncio.gather(*(
                _sender(port, range(100 + c * share, 100 + (c + 1) * share))
                for c in range(CONNECTIONS)))
            gc.collect()
            garbage = Counter(type(o).__qualname__ for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    assert [s for group in answers for s in group] == [b"202"] * WEBHOOKS
    assert sum(garbage.values()) < WEBHOOKS, garbage.most_common(8)
