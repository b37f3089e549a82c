"""The edge's whole request check in one call, for tests: the edge itself runs its two
halves apart (the headers before it reads the body, the body after)."""

from __future__ import annotations

from functools import partial
from typing import Any

from cxone_router.edge.auth import Authenticator, Check, build_auth
from cxone_router.settings import Settings


def checked(auth: Authenticator, headers: Any, body: bytes) -> None:
    """The whole request check, as the edge runs it: the headers, then the body."""
    auth.before_body(headers)
    if auth.after_body is not None:
        auth.after_body(headers, body)


def build_check(settings: Settings) -> tuple[Check | None, str | None]:
    """The whole request check and the WWW-Authenticate challenge for the configured mode."""
    auth = build_auth(settings)
    return (None, None) if auth is None else (partial(checked, auth), auth.challenge)
