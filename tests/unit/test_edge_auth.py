"""Edge authentication: each mode accepts the right credentials and nothing else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from starlette.datastructures import Headers

from cxone_router.edge.auth import Unauthorized, build_auth
from cxone_router.errors import ConfigurationError
from cxone_router.settings import load_settings
from tests.edge_auth import build_check, checked

BODY = b'{"eventId":"e1"}'


def signed(secret: str, timestamp: str, body: bytes = BODY) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                                hashlib.sha256).hexdigest()


def test_hmac_accepts_any_current_secret_and_rejects_the_rest() -> None:
    check, challenge = build_check(load_settings(edge_auth="hmac",
                                                 edge_hmac_secrets="old-secret,new-secret"))
    assert check is not None and challenge
    now = str(int(time.time()))
    for secret in ("old-secret", "new-secret"):  # rotation: both verify
        check({"x-signature": signed(secret, now), "x-timestamp": now}, BODY)
    rejected = [
        {"x-signature": signed("other", now), "x-timestamp": now},
        {"x-signature": signed("new-secret", now, BODY + b" "), "x-timestamp": now},
        {"x-signature": signed("new-secret", str(int(time.time()) - 3600)),
         "x-timestamp": str(int(time.time()) - 3600)},
        {"x-timestamp": now},
        {"x-signature": signed("new-secret", now)},
    ]
    for headers in rejected:
        with pytest.raises(Unauthorized):
            check(headers, BODY)


def test_bearer_and_basic() -> None:
    bearer, _ = build_check(load_settings(edge_auth="bearer", edge_bearer_tokens="t0k3n"))
    assert bearer is not None
    bearer({"authorization": "Bearer t0k3n"}, BODY)
    with pytest.raises(Unauthorized):
        bearer({"authorization": "Bearer nope"}, BODY)
    basic, _ = build_check(load_settings(edge_auth="basic", edge_basic_users="cxone:s3cret"))
    assert basic is not None
    basic({"authorization": "Basic " + base64.b64encode(b"cxone:s3cret").decode()}, BODY)
    for value in ("Basic " + base64.b64encode(b"cxone:wrong").decode(), "Basic !!", ""):
        with pytest.raises(Unauthorized):
            basic({"authorization": value}, BODY)


def test_errors_never_echo_a_secret() -> None:
    check, _ = build_check(load_settings(edge_auth="bearer", edge_bearer_tokens="t0k3n"))
    assert check is not None
    with pytest.raises(Unauthorized) as refused:
        check({"authorization": "Bearer t0k3n-guess"}, BODY)
    assert "t0k3n" not in str(refused.value)
    assert "t0k3n" not in repr(load_settings(edge_auth="bearer", edge_bearer_tokens="t0k3n"))


def test_no_auth_on_a_public_address_needs_an_explicit_yes() -> None:
    with pytest.raises(ConfigurationError, match="CXR_EDGE_AUTH"):
        build_check(load_settings(edge_host="0.0.0.0"))
    assert build_check(load_settings(edge_host="0.0.0.0", edge_allow_unauthenticated=True)) == (
        None, None)
    with pytest.raises(ConfigurationError, match="CXR_EDGE_HMAC_SECRETS"):
        build_check(load_settings(edge_auth="hmac"))


def test_hmac_refuses_hostile_signatures_and_timestamps_with_401_not_a_crash() -> None:
    check, _ = build_check(load_settings(edge_auth="hmac", edge_hmac_secrets="s3cret"))
    assert check is not None
    now = str(int(time.time()))
    for headers in (
        {"x-signature": "sha256=\u00e9\u00e9", "x-timestamp": now},  # non-ASCII: was a 500
        {"x-signature": signed("s3cret", "nan"), "x-timestamp": "nan"},  # nan: no window
        {"x-signature": signed("s3cret", "inf"), "x-timestamp": "inf"},
    ):
        with pytest.raises(Unauthorized):
            check(headers, BODY)
    # the prefix's case is the sender's choice
    check({"x-signature": signed("s3cret", now).replace("sha256=", "SHA256="),
           "x-timestamp": now}, BODY)


def test_hmac_without_a_timestamp_in_the_template_needs_an_explicit_yes() -> None:
    """Without {timestamp} a signed request can be replayed for ever: no silent default."""
    with pytest.raises(ConfigurationError, match="CXR_EDGE_HMAC_ALLOW_REPLAY"):
        build_auth(load_settings(edge_auth="hmac", edge_hmac_secrets="s",
                                 edge_hmac_template="{body}"))
    assert build_auth(load_settings(edge_auth="hmac", edge_hmac_secrets="s",
                                    edge_hmac_template="{body}", edge_hmac_allow_replay=True))


def test_hmac_refuses_from_the_headers_alone_before_any_body() -> None:
    auth = build_auth(load_settings(edge_auth="hmac", edge_hmac_secrets="s3cret"))
    assert auth is not None
    now = str(int(time.time()))
    auth.before_body({"x-signature": signed("anything", now), "x-timestamp": now})  # form ok
    for headers in ({"x-timestamp": now},
                    {"x-signature": signed("s3cret", "1"), "x-timestamp": "1"},
                    {"x-signature": "sha256=" + "é" * 64, "x-timestamp": now}):
        with pytest.raises(Unauthorized):
            auth.before_body(headers)


@pytest.mark.parametrize("repeated", ["x-signature", "x-timestamp"])
def test_a_repeated_signature_or_timestamp_header_is_refused(repeated: str) -> None:
    """A proxy that reads the last value and the edge the first would trust different ones."""
    auth = build_auth(load_settings(edge_auth="hmac", edge_hmac_secrets="s3cret"))
    assert auth is not None
    now = str(int(time.time()))
    good = {"x-signature": signed("s3cret", now), "x-timestamp": now}
    raw = [(k.encode(), v.encode()) for k, v in good.items()]
    checked(auth, Headers(raw=raw), BODY)
    with pytest.raises(Unauthorized, match=f"(?i)more than one {repeated} header"):
        checked(auth, Headers(raw=[*raw, (repeated.encode(), good[repeated].encode())]), BODY)
