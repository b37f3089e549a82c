"""Read a request body with a hard cap: stop reading past the limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import ClientDisconnect

from cxone_router.errors import CxoneRouterError

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class BodyTooLarge(CxoneRouterError):
    pass


async def read_capped(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    """The body of the ASGI request `receive` reads, whose `Content-Length` is `declared`
    (None when not sent); a client gone before its end raises Starlette's ClientDisconnect,
    as `Request.stream()` does (read here without its generator: the webhook's hot path)."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {declared.decode()} bytes is over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
