"""Who may post webhooks: HMAC over the raw body, a Bearer token, or Basic auth.

Secrets come from settings as `SecretStr` and are compared in constant time; no secret
or presented credential is ever logged or echoed. Without authentication the edge only
listens on loopback unless `CXR_EDGE_ALLOW_UNAUTHENTICATED=true` says otherwise.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Mapping

from pipeline.errors import ConfigurationError, CxoneRouterError
from pipeline.settings import Settings, is_loopback

Headers = Mapping[str, str]


class Unauthorized(CxoneRouterError):
    """The request is not from a sender we trust; the message is safe to return."""


Check = Callable[[Headers, bytes], None]


def _secrets(value: object, variable: str) -> list[bytes]:
    raw = value.get_secret_value() if value is not None else ""  # type: ignore[attr-defined]
    items = [item.strip().encode() for item in raw.split(",") if item.strip()]
    if not items:
        raise ConfigurationError(f"{variable} is required by CXR_EDGE_AUTH")
    return items


def _hmac_check(settings: Settings) -> Check:
    keys = _secrets(settings.edge_hmac_secrets, "CXR_EDGE_HMAC_SECRETS")
    signature_header = settings.edge_hmac_signature_header.lower()
    timestamp_header = settings.edge_hmac_timestamp_header.lower()
    template = settings.edge_hmac_template
    if "{body}" not in template:
        raise ConfigurationError("CXR_EDGE_HMAC_TEMPLATE must contain {body}")
    prefix, _, suffix = template.partition("{body}")
    tolerance = settings.edge_hmac_tolerance_seconds
    uses_timestamp = "{timestamp}" in template

    def check(headers: Headers, body: bytes) -> None:
        presented = headers.get(signature_header, "").strip()
        digest = presented[7:] if presented[:7].lower() == "sha256=" else presented
        if not digest:
            raise Unauthorized(f"missing {settings.edge_hmac_signature_header} header")
        if not digest.isascii():  # a hex digest is ASCII; compare_digest refuses the rest
            raise Unauthorized("signature does not match")
        timestamp = headers.get(timestamp_header, "")
        if uses_timestamp:
            try:
                sent = float(timestamp)
            except ValueError:
                sent = math.nan
            if not math.isfinite(sent):  # nan compares false with everything: no window
                raise Unauthorized(f"missing or invalid {settings.edge_hmac_timestamp_header}"
                                   " header")
            sent = sent / 1000 if sent > 1e11 else sent  # seconds or milliseconds
            if abs(time.time() - sent) > tolerance:
                raise Unauthorized("timestamp outside the accepted window")
        signed = (prefix.replace("{timestamp}", timestamp).encode() + body
                  + suffix.replace("{timestamp}", timestamp).encode())
        for key in keys:
            expected = hmac.new(key, signed, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, digest.strip().lower()):
                return
        raise Unauthorized("signature does not match")

    return check


def _bearer_check(settings: Settings) -> Check:
    tokens = _secrets(settings.edge_bearer_tokens, "CXR_EDGE_BEARER_TOKENS")

    def check(headers: Headers, body: bytes) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("a Bearer token is required")
        presented = token.strip().encode()
        if not any(hmac.compare_digest(presented, known) for known in tokens):
            raise Unauthorized("token not accepted")

    return check


def _basic_check(settings: Settings) -> Check:
    users = _secrets(settings.edge_basic_users, "CXR_EDGE_BASIC_USERS")
    if not all(b":" in u for u in users):
        raise ConfigurationError("CXR_EDGE_BASIC_USERS takes user:password pairs")

    def check(headers: Headers, body: bytes) -> None:
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            raise Unauthorized("Basic credentials are required")
        try:
            presented = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise Unauthorized("malformed Basic credentials") from None
        if not any(hmac.compare_digest(presented, known) for known in users):
            raise Unauthorized("credentials not accepted")

    return check


def build_check(settings: Settings) -> tuple[Check | None, str | None]:
    """The request check and the WWW-Authenticate challenge for the configured mode."""
    mode = settings.edge_auth
    if mode == "none":
        if not is_loopback(settings.edge_host) and not settings.edge_allow_unauthenticated:
            raise ConfigurationError(
                f"CXR_EDGE_HOST={settings.edge_host} is reachable from other machines but "
                "CXR_EDGE_AUTH is none: set CXR_EDGE_AUTH to hmac, bearer or basic, or "
                "CXR_EDGE_ALLOW_UNAUTHENTICATED=true to accept anyone"
            )
        return None, None
    if mode == "hmac":
        return _hmac_check(settings), 'HMAC-SHA256 realm="cxone-router"'
    if mode == "bearer":
        return _bearer_check(settings), 'Bearer realm="cxone-router"'
    return _basic_check(settings), 'Basic realm="cxone-router"'
