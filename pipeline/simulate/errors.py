"""How one delivery attempt can fail; the retry loop reads `retriable`, nothing else."""

from __future__ import annotations

import httpx

from cxone_router.errors import CxoneRouterError
from cxone_router.retry import parse_retry_after, retriable_status


class DeliveryError(CxoneRouterError):
    """An attempt to post one event did not end in a 202."""

    status: int | None = None


class EdgeUnavailable(DeliveryError):
    """408, 425, 429, 500, 502, 503 or 504 (cxone_router.retry): the edge cannot take the event
    now; `retry_after` is its hint, if any."""

    retriable = True

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"edge answered {status}")
        self.status = status
        self.retry_after = retry_after


class EdgeTimeout(DeliveryError):
    """No answer in time; CXone redelivers in this case, so do we."""

    retriable = True


class EdgeUnreachable(DeliveryError):
    """Connection refused or dropped before an answer."""

    retriable = True


class EdgeRejected(DeliveryError):
    """Any other 4xx or 5xx: sending the same bytes again cannot help."""

    retriable = False

    def __init__(self, status: int) -> None:
        super().__init__(f"edge rejected the event with {status}")
        self.status = status


class UnexpectedAnswer(DeliveryError):
    """A 1xx/2xx/3xx other than 202: the edge contract says this never happens."""

    retriable = False

    def __init__(self, status: int) -> None:
        super().__init__(f"edge answered {status}, expected 202")
        self.status = status


def answer_error(response: httpx.Response) -> DeliveryError:
    """What an answer other than 202 means for the event, by cxone_router.retry's statuses."""
    status = response.status_code
    if retriable_status(status):
        return EdgeUnavailable(status, parse_retry_after(response.headers.get("retry-after")))
    if status >= 400:
        return EdgeRejected(status)
    return UnexpectedAnswer(status)
