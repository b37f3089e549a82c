"""A real HTTP edge whose answers each test scripts by path. Paths:

- `/ok`: 202 for everything.
- `/flaky/{n}`: 503 with `Retry-After: 1` for the first n posts of each distinct body, then 202.
- `/flaky-no-hint/{n}`: the same without `Retry-After`.
- `/reject`: 400 for everything.
- `/slow-once/{seconds}`: the first post of each body waits `seconds`, later ones do not.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ACCEPTED = {"status": "accepted", "eventId": "e"}


class ScriptedEdge:
    def __init__(self) -> None:
        self.url = ""
        self.received: list[tuple[str, str, bytes]] = []
        """(path, content type, body) per request, in arrival order."""
        self.on_request: Callable[[int], None] | None = None
        self._seen: Counter[tuple[str, bytes]] = Counter()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/ok", self._ok, methods=["POST"]),
                Route("/flaky/{n:int}", self._flaky, methods=["POST"]),
                Route("/flaky-no-hint/{n:int}", self._flaky, methods=["POST"]),
                Route("/reject", self._reject, methods=["POST"]),
                Route("/slow-once/{seconds:float}", self._slow_once, methods=["POST"]),
            ]
        )

    def bodies(self, path: str) -> list[bytes]:
        with self._lock:
            return [body for p, _, body in self.received if p == path]

    async def _record(self, request: Request) -> int:
        """How many times this path has seen this body, this post included."""
        body = await request.body()
        with self._lock:
            key = (request.url.path, body)
            self.received.append((request.url.path, request.headers["content-type"], body))
            self._seen[key] += 1
            seen, total = self._seen[key], len(self.received)
        if self.on_request is not None:
            self.on_request(total)
        return seen

    async def _ok(self, request: Request) -> JSONResponse:
        await self._record(request)
        return JSONResponse(ACCEPTED, status_code=202)

    async def _flaky(self, request: Request) -> JSONResponse:
        seen = await self._record(request)
        if seen <= request.path_params["n"]:
            hint = {} if "no-hint" in request.url.path else {"Retry-After": "1"}
            return JSONResponse({"status": "unavailable"}, status_code=503, headers=hint)
        return JSONResponse(ACCEPTED, status_code=202)

    async def _reject(self, request: Request) -> JSONResponse:
        await self._record(request)
        return JSONResponse({"error": "invalid_json"}, status_code=400)

    async def _slow_once(self, request: Request) -> JSONResponse:
        if await self._record(request) == 1:
            await asyncio.sleep(request.path_params["seconds"])
        return JSONResponse(ACCEPTED, status_code=202)
