"""uvicorn's httptools protocol with the limits it lacks: deadlines for a request's head
(request line and headers) and for its body, and a cap on the head's size.

Without them a client that sends slowly (or declares `Content-Length: 1000` and sends 17
bytes) holds a connection for ever, and with enough of them the connection cap answers
everyone else 503; and a 48 MiB header is parsed, at a cost that grows with the square of
its size. A request over a limit is answered 408 or 431 and its connection closed; the
app never sees a refused head, and a body that times out wakes the app as a disconnect.

The deadlines cost no timer per request: each connection notes when its head or body
began, and one sweep a second per server closes the late ones.

It also writes a response's head and its first body part together: uvicorn writes each
ASGI message as it comes, so a whole answer took two sends (two syscalls, two TCP segments
for the client to read) where one does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

Refused = Callable[[int, bytes], None]  # told each refusal's status and URL (as far as read)
BODY_TIMED_OUT = "cxr.body_timed_out"  # set in the scope of a request whose body was late
_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
# Stands in for the request of a refused head, so the parser's calls for what followed it
# (uvicorn's on_body, on_message_complete) find it answered and do nothing.
_ANSWERED: Any = SimpleNamespace(response_complete=True, more_body=False,
                                 message_event=asyncio.Event())


def _answer(status: int, error: str) -> bytes:
    body = b'{"status":"rejected","error":"' + error.encode() + b'"}'
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (status, _REASONS[status], len(body), body))


class _Held:
    """Stands in for a connection's transport while uvicorn writes one ASGI message:
    keeps what it writes, for `flush` to write at once."""

    __slots__ = ("parts", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def close(self) -> None:  # uvicorn closes after the last body part without keep-alive
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def flush(self) -> None:
        if self.parts:
            data = b"".join(self.parts)
            self.parts.clear()
            if not self.transport.is_closing():  # the client left: nothing to write to
                self.transport.write(data)


class _JoinedCycle(RequestResponseCycle):
    """uvicorn's request-response cycle, holding what `http.response.start` writes until
    the next message (the body, or its first part) is written with it. Everything else is
    uvicorn's own: its checks, its keep-alive and its close. The protocol makes each new
    cycle one of these (a class, not a closure on the cycle: a closure would be a
    reference cycle per request, which only the garbage collector frees)."""

    held: _Held  # the connection's: its requests' answers are written one after another

    async def send(self, message: Any) -> None:
        held = self.held
        self.transport = held  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = held.transport
        if message["type"] != "http.response.start":
            held.flush()


def guarded_protocol(header_timeout: float, body_timeout: float, max_header_bytes: int,
                     refused: Refused) -> type[HttpToolsProtocol]:
    """The protocol class for one `uvicorn.Config(http=...)`, with these limits."""
    head_too_slow = _answer(408, f"request headers not received within {header_timeout:g} s")
    body_too_slow = _answer(408, f"body not received within {body_timeout:g} s")
    too_large = _answer(431, f"request headers over the limit of {max_header_bytes} bytes")
    sweep_every = min(1.0, header_timeout / 4, body_timeout / 4)

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        """Four hooks, the fewest per request that do it: the edge's hot path."""

        live: ClassVar[set[GuardedHttpToolsProtocol]] = set()
        sweeper: ClassVar[asyncio.Task[None] | None] = None
        _head_since: float | None = None  # loop time the current head began; None: past it
        _body_since: float | None = None  # loop time the head ended, until the body did
        _received = 0  # bytes received since the current head began

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._held = _Held(transport)
            cls = type(self)
            cls.live.add(self)
            if cls.sweeper is None or cls.sweeper.done():
                cls.sweeper = self.loop.create_task(_sweep(cls.live))
            self._head_since = self.loop.time()

        def connection_lost(self, exc: Exception | None) -> None:
            type(self).live.discard(self)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():  # refused: parse nothing more
                return
            if self._head_since is None:
                cycle: Any = self.cycle
                # answered and its body all read: this is the next request's head (the
                # rest of a body answered early, e.g. 413, is still body: not counted)
                if cycle.response_complete and not cycle.more_body:
                    self._head_since = self.loop.time()
                    self._received = 0
            if self._head_since is not None:
                self._received += len(data)
                super().data_received(data)
                # Still in the head after this much: refuse before parsing more of it (a
                # read is at most 256 KiB, so the parser never sees much past the limit).
                if self._head_since is not None and self._received > max_header_bytes:
                    self._refuse(431, too_large)
            else:
                super().data_received(data)

        def on_headers_complete(self) -> None:
            # When this head's bytes were counted from its start (not one pipelined behind
            # an answer still due), their count bounds its size: most heads need no sum.
            counted = self._head_since is not None and self._received <= max_header_bytes
            if not counted and max_header_bytes < len(self.url) + sum(
                    len(n) + len(v) + 4 for n, v in self.headers):
                self._refuse(431, too_large)  # the app never sees it
                if self.cycle is None:  # the parser goes on with what followed: ignore it
                    self.cycle = _ANSWERED
                return
            self._head_since = None
            self._body_since = self.loop.time()
            previous = self.cycle
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not previous and cycle is not None:  # a new request (not an upgrade)
                cycle.__class__ = _JoinedCycle  # uvicorn builds the cycle: only its class changes
                cycle.held = self._held  # type: ignore[attr-defined]

        def check_deadlines(self, now: float) -> None:
            if self._head_since is not None:
                if now - self._head_since <= header_timeout:
                    return
                if self._received == 0:  # an idle kept-alive connection: just close it
                    self._head_since = None
                    self.transport.close()
                else:
                    self._refuse(408, head_too_slow)
                return
            if self._body_since is None or now - self._body_since <= body_timeout:
                return
            self._body_since = None
            cycle: Any = self.cycle
            if cycle is None or not cycle.more_body:  # the body came in time
                return
            if cycle.response_started:  # answered without the body; it never came
                self.transport.close()
                return
            cycle.scope[BODY_TIMED_OUT] = True  # for the app's count: it is woken below
            cycle.disconnected = True  # its receive() returns http.disconnect
            cycle.message_event.set()
            self._refuse(408, body_too_slow, count=False)

        def _refuse(self, status: int, answer: bytes, count: bool = True) -> None:
            self._head_since = None
            if not self.transport.is_closing():
                self.transport.write(answer)
                self.transport.close()
                if count:
                    refused(status, self.url or b"")

    async def _sweep(live: set[GuardedHttpToolsProtocol]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(sweep_every)
            now = loop.time()
            for connection in list(live):
                connection.check_deadlines(now)

    return GuardedHttpToolsProtocol
