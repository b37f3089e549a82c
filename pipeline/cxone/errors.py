"""CXone API errors. Retry loops read `retriable`; the CLI prints `hint` to the operator."""

from __future__ import annotations

from cxone_router.errors import CxoneRouterError


class CxoneApiError(CxoneRouterError):
    """Root of every error the CXone client raises."""

    retriable = False
    hint = ""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None):
        super().__init__(message)
        self.status = status
        if hint is not None:
            self.hint = hint


class AuthError(CxoneApiError):
    """CXone refused our credentials or our token."""

    hint = (
        "check CXR_CXONE_CLIENT_ID and CXR_CXONE_CLIENT_SECRET (and, for the password grant, "
        "CXR_CXONE_ACCESS_KEY_ID and CXR_CXONE_ACCESS_KEY_SECRET)"
    )


class ScopeError(CxoneApiError):
    """The token lacks a scope the call needs."""

    def __init__(self, scope: str, *, status: int | None = 403):
        super().__init__(
            f"CXone refused the call: the token lacks the scope '{scope}'",
            status=status,
            hint=f"grant the scope '{scope}' to this API application in CXone (Admin > "
            "Security > API applications) and run the command again",
        )
        self.scope = scope


class RateLimited(CxoneApiError):
    """The tenant's rate limit was hit."""

    retriable = True
    hint = (
        "CXone is rate limiting this tenant: wait a minute and run the command again, "
        "or lower CXR_CXONE_RATE_PER_SECOND"
    )

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message, status=429)
        self.retry_after = retry_after


class ServerError(CxoneApiError):
    """CXone answered a retriable status other than 429: 408, 425, 500, 502, 503 or 504."""

    retriable = True
    hint = "CXone is failing: try again later and check status.nice.com (or status of your region)"


class Unreachable(CxoneApiError):
    """No answer: connection refused, DNS failure or timeout."""

    retriable = True
    hint = (
        "check CXR_CXONE_INSTANCE / CXR_CXONE_API_BASE and the network; "
        "raise CXR_CXONE_REQUEST_TIMEOUT_SECONDS for a slow link"
    )


class RequestRejected(CxoneApiError):
    """CXone refused the request itself (4xx other than 401/403/429)."""


class NotFound(RequestRejected):
    """The resource does not exist."""

    hint = "see the ids that exist with `cxone-router webhooks list`"


class Conflict(RequestRejected):
    """The resource exists already."""


class DiscoveryError(CxoneApiError):
    """The OpenID discovery document was unusable."""

    hint = "set CXR_CXONE_DISCOVER_TOKEN_ENDPOINT=false and CXR_CXONE_TOKEN_PATH instead"
