"""One HTTP exchange with CXone: transport failures and transient statuses become errors."""

from __future__ import annotations

import httpx

from cxone_router.cxone.errors import RateLimited, ServerError, Unreachable
from cxone_router.retry import parse_retry_after, retriable_status


async def send(
    http: httpx.AsyncClient, request: httpx.Request, *, auth: httpx.Auth | None = None
) -> httpx.Response:
    """Send, turning transport failures into a retriable CXone error (no URL credentials)."""
    try:
        return await http.send(request, auth=auth) if auth else await http.send(request)
    except httpx.TimeoutException as exc:
        raise Unreachable(f"CXone did not answer in time ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise Unreachable(
            f"cannot reach CXone at {request.url.scheme}://{request.url.netloc.decode()} "
            f"({type(exc).__name__})"
        ) from None


def raise_for_transient(response: httpx.Response) -> None:
    """Raise the retriable errors: 429, and 408, 425, 500, 502, 503, 504 (cxone_router.retry)."""
    if response.status_code == 429:
        raise RateLimited(
            f"CXone rate limited {response.request.url.path} (HTTP 429)",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if retriable_status(response.status_code):
        raise ServerError(
            f"CXone failed on {response.request.url.path} (HTTP {response.status_code})",
            status=response.status_code,
        )
