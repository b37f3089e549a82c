"""The scripted edge runs in a real uvicorn on loopback, in a thread of its own.

The socket is bound and listening before the server thread starts, so a client can connect
at once: no readiness polling.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn

from .scripted_edge import ScriptedEdge


@pytest.fixture
def edge() -> Iterator[ScriptedEdge]:
    scripted = ScriptedEdge()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    scripted.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        scripted.app, log_level="warning", access_log=False, lifespan="off",
        timeout_graceful_shutdown=2,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield scripted
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive(), "the scripted edge did not stop"


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nobody listens on: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/webhooks/cxone"
