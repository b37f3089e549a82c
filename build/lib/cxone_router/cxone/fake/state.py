"""What the fake CXone remembers: credentials, tokens, webhooks, faults and counters."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

ALL_SCOPES = frozenset({"webhooks:read", "webhooks:write", "interactions:read"})


@dataclass(frozen=True)
class FakeCredentials:
    """The fake's demo credentials: public by design, never use them for a real tenant."""

    client_id: str = "fake-client"
    client_secret: str = field(default="fake-client-secret", repr=False)
    access_key_id: str = "fake-access-key"
    access_key_secret: str = field(default="fake-access-key-secret", repr=False)


FAKE_CREDENTIALS = FakeCredentials()


@dataclass
class Countdown:
    """A fault that answers the next `count` requests to `target` ("api" or "token")."""

    count: int
    target: str = "api"

    def take(self, target: str) -> bool:
        if self.count <= 0 or self.target != target:
            return False
        self.count -= 1
        return True


@dataclass
class RateLimitFault(Countdown):
    retry_after: str | None = None


@dataclass
class FailFault(Countdown):
    status: int = 500


@dataclass
class SlowFault(Countdown):
    seconds: float = 1.0


@dataclass
class TenantLimit:
    """A real server-side token bucket, as a tenant's API limit."""

    rate: float
    burst: float
    tokens: float = 0.0
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Faults:
    refuse_scopes: set[str] = field(default_factory=set)
    reject_tokens: int = 0  # the next N API calls answer 401 whatever the token
    rate_limit: RateLimitFault | None = None
    fail: FailFault | None = None
    slow: SlowFault | None = None
    tenant_limit: TenantLimit | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Faults:
        def countdown(kind: type[Countdown], key: str) -> Any:
            spec = body.get(key)
            return kind(**spec) if isinstance(spec, dict) else None

        refuse = body.get("refuse_scope") or []
        limit = body.get("tenant_limit")
        return cls(
            refuse_scopes={refuse} if isinstance(refuse, str) else set(refuse),
            reject_tokens=int(body.get("reject_tokens", 0)),
            rate_limit=countdown(RateLimitFault, "rate_limit"),
            fail=countdown(FailFault, "fail"),
            slow=countdown(SlowFault, "slow"),
            tenant_limit=TenantLimit(**limit) if isinstance(limit, dict) else None,
        )


@dataclass
class IssuedToken:
    expires_at: float
    scopes: frozenset[str]


@dataclass
class FakeState:
    credentials: FakeCredentials = FAKE_CREDENTIALS
    token_ttl: float = 300.0
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    stats: Counter[str] = field(default_factory=Counter)
    issued: list[str] = field(default_factory=list)  # every token ever issued, for leak tests

    def issue_token(self, ttl: float | None = None) -> tuple[str, float]:
        value = secrets.token_urlsafe(32)
        lifetime = self.token_ttl if ttl is None else ttl
        self.tokens[value] = IssuedToken(time.monotonic() + lifetime, ALL_SCOPES)
        self.issued.append(value)
        return value, lifetime

    def valid_token(self, value: str) -> IssuedToken | None:
        issued = self.tokens.get(value)
        if issued is None or issued.expires_at <= time.monotonic():
            return None
        return issued

    def expire_tokens(self) -> None:
        """Every token issued so far answers 401 from now on, long before its expiry."""
        self.tokens.clear()

    def reset(self) -> None:
        self.tokens.clear()
        self.webhooks.clear()
        self.faults = Faults()
        self.stats.clear()
        self.issued.clear()
