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
from dataclasses import dataclass

from cxone_router.errors import ConfigurationError, CxoneRouterError
from cxone_router.settings import Settings, is_loopback

Headers = Mapping[str, str]


class Unauthorized(CxoneRouterError):
    """The request is not from a sender we trust; the message is safe to return."""


Check = Callable[[Headers, bytes], None]
HeadCheck = Callable[[Headers], None]


@dataclass(frozen=True, slots=True)
class Authenticator:
    """`before_body` checks what the headers alone can prove (credentials, a signature's
    form and timestamp), so a stranger is refused before the edge reads the body;
    `after_body` what needs the body (an HMAC signature)."""

    before_body: HeadCheck
    after_body: Check | None
    challenge: str


def _single(headers: Headers, name: str, label: str) -> str:
    """The header's one value ("" when absent); two of it are refused: a proxy reading
    the last and the edge reading the first would each trust a different one."""
    getlist = getattr(headers, "getlist", None)
    if getlist is not None and len(getlist(name)) > 1:
        raise Unauthorized(f"more than one {label} header")
    return headers.get(name, "")


def _secrets(value: object, variable: str) -> list[bytes]:
    raw = value.get_secret_value() if value is not None else ""  # type: ignore[attr-defined]
    items = [item.strip().encode() for item in raw.split(",") if item.strip()]
    if not items:
        raise ConfigurationError(f"{variable} is required by CXR_EDGE_AUTH")
    return items


def _hmac(settings: Settings) -> Authenticator:
    keys = _secrets(settings.edge_hmac_secrets, "CXR_EDGE_HMAC_SECRETS")
    signature_label = settings.edge_hmac_signature_header
    timestamp_label = settings.edge_hmac_timestamp_header
    signature_header, timestamp_header = signature_label.lower(), timestamp_label.lower()
    template = settings.edge_hmac_template
    if "{body}" not in template:
        raise ConfigurationError("CXR_EDGE_HMAC_TEMPLATE must contain {body}")
    uses_timestamp = "{timestamp}" in template
    if not uses_timestamp and not settings.edge_hmac_allow_replay:
        raise ConfigurationError(
            "CXR_EDGE_HMAC_TEMPLATE has no {timestamp}: a signed request could be replayed "
            "for ever; add {timestamp}, or set CXR_EDGE_HMAC_ALLOW_REPLAY=true to accept that")
    prefix, _, suffix = template.partition("{body}")
    tolerance = settings.edge_hmac_tolerance_seconds

    def digest_of(headers: Headers) -> str:
        presented = _single(headers, signature_header, signature_label).strip()
        digest = presented[7:] if presented[:7].lower() == "sha256=" else presented
        if not digest:
            raise Unauthorized(f"missing {signature_label} header")
        if not digest.isascii():  # a hex digest is ASCII; compare_digest refuses the rest
            raise Unauthorized("signature does not match")
        return digest.strip().lower()

    def before_body(headers: Headers) -> None:
        digest_of(headers)
        timestamp = _single(headers, timestamp_header, timestamp_label)
        if uses_timestamp:
            try:
                sent = float(timestamp)
            except ValueError:
                sent = math.nan
            if not math.isfinite(sent):  # nan compares false with everything: no window
                raise Unauthorized(
                    f"missing or invalid {timestamp_label} header: send the Unix time of "
                    f"the request in seconds or milliseconds (e.g. {int(time.time())})")
            sent = sent / 1000 if sent > 1e11 else sent  # seconds or milliseconds
            if abs(time.time() - sent) > tolerance:
                raise Unauthorized(
                    f"{timestamp_label} is more than {tolerance:g} s from the edge's clock: "
                    f"send the Unix time of the request in seconds or milliseconds")

    def after_body(headers: Headers, body: bytes) -> None:
        digest = digest_of(headers)
        timestamp = headers.get(timestamp_header, "")
        signed = (prefix.replace("{timestamp}", timestamp).encode() + body
                  + suffix.replace("{timestamp}", timestamp).encode())
        for key in keys:
            expected = hmac.new(key, signed, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, digest):
                return
        raise Unauthorized("signature does not match")

    return Authenticator(before_body, after_body, 'HMAC-SHA256 realm="cxone-router"')


def _bearer(settings: Settings) -> Authenticator:
    tokens = _secrets(settings.edge_bearer_tokens, "CXR_EDGE_BEARER_TOKENS")

    def before_body(headers: Headers) -> None:
        scheme, _, token = _single(headers, "authorization", "Authorization").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("a Bearer token is required")
        presented = token.strip().encode()
        if not any(hmac.compare_digest(presented, known) for known in tokens):
            raise Unauthorized("token not accepted")

    return Authenticator(before_body, None, 'Bearer realm="cxone-router"')


def _basic(settings: Settings) -> Authenticator:
    users = _secrets(settings.edge_basic_users, "CXR_EDGE_BASIC_USERS")
    if not all(b":" in u for u in users):
        raise ConfigurationError("CXR_EDGE_BASIC_USERS takes user:password pairs")

    def before_body(headers: Headers) -> None:
        value = _single(headers, "authorization", "Authorization")
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            raise Unauthorized("Basic credentials are required")
        try:
            presented = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise Unauthorized("malformed Basic credentials") from None
        if not any(hmac.compare_digest(presented, known) for known in users):
            raise Unauthorized("credentials not accepted")

    return Authenticator(before_body, None, 'Basic realm="cxone-router"')


def build_auth(settings: Settings) -> Authenticator | None:
    """The configured mode's checks; None when the edge accepts anyone."""
    mode = settings.edge_auth
    if mode == "none":
        if not is_loopback(settings.edge_host) and not settings.edge_allow_unauthenticated:
            raise ConfigurationError(
                f"CXR_EDGE_HOST={settings.edge_host} is reachable from other machines but "
                "CXR_EDGE_AUTH is none: set CXR_EDGE_AUTH to hmac, bearer or basic, or "
                "CXR_EDGE_ALLOW_UNAUTHENTICATED=true to accept anyone"
            )
        return None
    return {"hmac": _hmac, "bearer": _bearer, "basic": _basic}[mode](settings)

