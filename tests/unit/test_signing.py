"""pipeline/signing.py signs what the edge's own check (pipeline/edge/auth.py) accepts, and
`cxone-router sign` prints it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from starlette.datastructures import Headers
from typer.testing import CliRunner

from cxone_router.cli import app
from cxone_router.edge.auth import Unauthorized
from cxone_router.errors import ConfigurationError
from cxone_router.settings import Settings, load_settings
from cxone_router.signing import Signer, sign, signer_for
from tests.edge_auth import build_check

BODY = b'{"eventId":"e1","eventType":"interaction.created","data":{"id":"i-1"}}'


def passes(settings: Settings, headers: dict[str, str], body: bytes = BODY) -> bool:
    """The edge's verdict on these headers, as Starlette hands them to it."""
    check, _ = build_check(settings)
    assert check is not None
    try:
        check(Headers(headers=headers), body)
    except Unauthorized:
        return False
    return True


@pytest.mark.parametrize("overrides", [
    {},  # the default template, "{timestamp}.{body}", X-Signature / X-Timestamp
    {"edge_hmac_template": "v0:{timestamp}:{body}:{timestamp}",
     "edge_hmac_signature_header": "X-Cxone-Signature",
     "edge_hmac_timestamp_header": "X-Cxone-Request-Time"},
    {"edge_hmac_template": "{body}", "edge_hmac_allow_replay": True},  # no timestamp signed
])
def test_hmac_headers_pass_the_edges_check_and_fail_for_another_body(
        overrides: dict[str, str]) -> None:
    settings = load_settings(edge_auth="hmac", edge_hmac_secrets=" first-secret , second",
                             **overrides)
    headers = Signer(settings).headers(BODY)
    assert set(headers) == {settings.edge_hmac_signature_header,
                            settings.edge_hmac_timestamp_header}
    assert headers[settings.edge_hmac_signature_header].startswith("sha256=")
    assert passes(settings, headers)
    assert not passes(settings, headers, BODY + b" ")
    assert not passes(settings, headers, BODY.replace(b"i-1", b"i-2"))


def test_hmac_signs_with_the_first_secret() -> None:
    settings = load_settings(edge_auth="hmac", edge_hmac_secrets="first-secret,second")
    headers = sign(settings, BODY)
    assert passes(load_settings(edge_auth="hmac", edge_hmac_secrets="first-secret"), headers)
    assert not passes(load_settings(edge_auth="hmac", edge_hmac_secrets="second"), headers)


def test_hmac_takes_the_time_from_the_clock_given() -> None:
    settings = load_settings(edge_auth="hmac", edge_hmac_secrets="s3cret")
    now = [time.time()]
    signer = Signer(settings, clock=lambda: now[0])
    first = signer.headers(BODY)
    assert first["X-Timestamp"] == str(int(now[0]))
    now[0] += 1  # the next second: a new timestamp, a new signature, still accepted
    second = signer.headers(BODY)
    assert second["X-Timestamp"] == str(int(now[0])) and second != first
    assert passes(settings, first) and passes(settings, second)
    stale = Signer(settings, clock=lambda: time.time() - 3600).headers(BODY)
    assert not passes(settings, stale)  # outside CXR_EDGE_HMAC_TOLERANCE_SECONDS


def test_hmac_signs_each_body_on_its_own() -> None:
    settings = load_settings(edge_auth="hmac", edge_hmac_secrets="s3cret")
    signer = Signer(settings)
    bodies = [BODY.replace(b"i-1", f"i-{n}".encode()) for n in range(50)]
    signed = [(signer.headers(body), body) for body in bodies]
    assert all(passes(settings, headers, body) for headers, body in signed)
    assert len({h["X-Signature"] for h, _ in signed}) == len(bodies)


def test_bearer_and_basic_send_the_first_credential() -> None:
    bearer = load_settings(edge_auth="bearer", edge_bearer_tokens="tok-a, tok-b")
    assert sign(bearer, BODY) == {"Authorization": "Bearer tok-a"}
    assert passes(bearer, sign(bearer, BODY))
    assert passes(bearer, sign(bearer, b"any body"), BODY)  # not tied to the body
    basic = load_settings(edge_auth="basic", edge_basic_users="cxone:s3cret,other:pw")
    assert passes(basic, sign(basic, BODY))
    assert not passes(load_settings(edge_auth="basic", edge_basic_users="other:pw"),
                      sign(basic, BODY))
    signer = Signer(basic)
    assert not signer.per_request and signer.headers(BODY) is not signer.headers(BODY)


def test_none_needs_no_headers() -> None:
    settings = load_settings(edge_auth="none")
    assert sign(settings, BODY) == {}
    assert signer_for(settings) is None
    assert not Signer(settings).enabled


@pytest.mark.parametrize(("overrides", "named"), [
    ({"edge_auth": "hmac"}, "CXR_EDGE_HMAC_SECRETS"),
    ({"edge_auth": "hmac", "edge_hmac_secrets": " , "}, "CXR_EDGE_HMAC_SECRETS"),
    ({"edge_auth": "hmac", "edge_hmac_secrets": "s", "edge_hmac_template": "{timestamp}"},
     "CXR_EDGE_HMAC_TEMPLATE"),
    ({"edge_auth": "bearer"}, "CXR_EDGE_BEARER_TOKENS"),
    ({"edge_auth": "basic", "edge_basic_users": "no-colon"}, "CXR_EDGE_BASIC_USERS"),
])
def test_a_missing_credential_is_named(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Signer(load_settings(**overrides))


# ---- cxone-router sign -------------------------------------------------------------------


def run_sign(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str,
             stdin: bytes | None = None) -> tuple[int, str, str]:
    for name in [n for n in os.environ if n.startswith("CXR_EDGE")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["sign", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_sign_prints_headers_that_pass_and_never_the_hmac_secret(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {"CXR_EDGE_AUTH": "hmac", "CXR_EDGE_HMAC_SECRETS": "very-secret-1,very-secret-2"}
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY)
    for args, stdin in (((str(body_file),), None), ((), BODY), (("-",), BODY)):
        code, out, err = run_sign(monkeypatch, env, *args, stdin=stdin)
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0] == "Content-Type: application/json"
        headers = dict(line.split(": ", 1) for line in lines)
        assert passes(load_settings(edge_auth="hmac", edge_hmac_secrets="very-secret-1"),
                      headers)
        assert "very-secret" not in out + err


def test_sign_with_auth_none_says_so_and_prints_only_the_content_type(
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_sign(monkeypatch, {}, "--content-type",
                              "application/x-www-form-urlencoded", stdin=b"a=1")
    assert code == 0
    assert out == "Content-Type: application/x-www-form-urlencoded\n"
    assert "no signing is configured" in err


def test_sign_curl_needs_a_file_and_names_the_configured_edge(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {"CXR_EDGE_AUTH": "bearer", "CXR_EDGE_BEARER_TOKENS": "tok-a",
           "CXR_EDGE_HOST": "0.0.0.0", "CXR_EDGE_PORT": "18080",
           "CXR_EDGE_ALLOW_UNAUTHENTICATED": "false"}
    code, _, err = run_sign(monkeypatch, env, "--curl", stdin=BODY)
    assert code == 2 and "--curl needs the body in a FILE" in err
    body_file = tmp_path / "a body.json"
    body_file.write_bytes(BODY)
    code, out, err = run_sign(monkeypatch, env, "--curl", str(body_file))
    assert code == 0, err
    assert out == ("curl -sS -i -H 'Content-Type: application/json' "
                   "-H 'Authorization: Bearer tok-a' "
                   f"--data-binary '@{body_file.resolve()}' http://127.0.0.1:18080/webhooks/cxone\n")


def test_sign_help_warns_that_bearer_and_basic_output_holds_the_secret() -> None:
    result = CliRunner().invoke(app, ["sign", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "CONTAINS the first token or user:password in clear" in text
    assert "--curl" in text and "--content-type" in text
