"""PII redaction per fan-out route: the three actions, the plans' stability, validation of
the routes file, the key, and the defaults on real normalized records."""

from __future__ import annotations

import copy
import hmac
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fastjsonschema
import orjson
import pytest

from cxone_router.agents.fanout import Fanout
from cxone_router.errors import ConfigurationError
from cxone_router.mapping import Normalizer
from cxone_router.mapping.errors import MappingError
from cxone_router.redaction import REDACTED_HEADER, RedactionPlan, keyed_sha256, mask
from cxone_router.routing import Route, load_routes
from cxone_router.samples import dfo, studio_voice
from cxone_router.settings import REPO_ROOT, load_settings

SCHEMAS = REPO_ROOT / "schemas"
KEY = b"unit-test-redaction-key-0001"
PHONE, EMAIL, TEXT = "+15550100123", "jo.customer@example.com", "My card 4111 is stolen"
HEADERS = [("cxr-request-id", b"r1"), ("content-type", b"application/json")]


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer.from_dir(SCHEMAS)


def normalized(normalizer: Normalizer, channel: str) -> dict[str, Any]:
    """A record of `channel` carrying a phone number, an e-mail address and message text."""
    if channel == "voice":
        fields = {**studio_voice("c-1", "Disconnected"), "ani": PHONE, "dnis": "+18005550199"}
        return normalizer.normalize(fields, 1)
    payload = dfo("CaseStatusChanged", "i-1", channel, status="closed",
                  text=f"{TEXT}, write to {EMAIL}")
    payload["data"]["case"]["endUser"]["identities"][0]["idOnExternalPlatform"] = (
        EMAIL if channel == "email" else PHONE)
    payload["data"]["message"]["subject"] = f"Call me on {PHONE}"
    return normalizer.normalize(payload, 1)


def plan(redact: dict[str, str], key: bytes | None = KEY) -> RedactionPlan:
    return RedactionPlan(sorted(redact.items()), key, "test")


def redacted(p: RedactionPlan, record: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(p.apply(record, orjson.dumps(record)))  # type: ignore[no-any-return]


# ---- the actions ------------------------------------------------------------------------

def test_drop_removes_a_context_field_and_nulls_a_field_every_record_has(
        normalizer: Normalizer) -> None:
    record = normalized(normalizer, "sms")
    before = copy.deepcopy(record)
    out = redacted(plan({"context.messageText": "drop", "customer.identifier": "drop"}), record)
    assert "messageText" not in out["context"] and out["customer"]["identifier"] is None
    assert out["customer"]["type"] == "phone"
    assert out["context"] == {k: v for k, v in record["context"].items() if k != "messageText"}
    assert record == before  # the channel record is not touched
    fastjsonschema.compile(orjson.loads((SCHEMAS / "interaction.v1.json").read_bytes()))(out)


def test_hash_is_the_keyed_hmac_and_stable_across_independently_built_plans(
        normalizer: Normalizer) -> None:
    """Two workers (or one before and after a restart) build their plans from the same
    routes file and key: the same value hashes alike, so teams can join on it."""
    record = normalized(normalizer, "chat")
    routes = {r.name: r for r in load_routes(SCHEMAS)}
    first = RedactionPlan(routes["analytics"].redact, KEY)
    second = RedactionPlan(load_routes(SCHEMAS)[0].redact, bytes(KEY))
    expected = hmac.new(KEY, PHONE.encode(), "sha256").hexdigest()
    for p in (first, second):
        assert redacted(p, record)["customer"]["identifier"] == expected
    other = RedactionPlan(routes["analytics"].redact, b"another-redaction-key-0002")
    assert redacted(other, record)["customer"]["identifier"] not in (expected, PHONE)


@pytest.mark.parametrize("key", [b"k" * 16, b"x" * 64, b"y" * 65, "é-ключ-🔑".encode() * 9])
@pytest.mark.parametrize("data", [b"", PHONE.encode(), "é".encode() * 300])
def test_keyed_sha256_is_hmac_sha256(key: bytes, data: bytes) -> None:
    assert keyed_sha256(key)(data) == hmac.new(key, data, "sha256").hexdigest()


def test_hash_of_a_number_hashes_its_json() -> None:
    record = {"context": {"queueId": 12345}}
    out = redacted(plan({"context.queueId": "hash"}), record)
    assert out["context"]["queueId"] == hmac.new(KEY, b"12345", "sha256").hexdigest()


@pytest.mark.parametrize("value,masked", [
    (PHONE, "****0123"), (EMAIL, "****.com"), ("12345678", "****5678"),
    ("1234567", "****"), ("abcd", "****"), ("a", "****"), ("", "****"), (4111111111, "****1111"),
])
def test_mask_keeps_the_last_four_characters_of_values_of_eight_or_more(
        value: Any, masked: str) -> None:
    assert mask(value) == masked
    out = redacted(plan({"customer.identifier": "mask"}), {"customer": {"identifier": value}})
    assert out["customer"]["identifier"] == masked


def test_null_or_absent_fields_leave_the_serialized_bytes_as_they_are() -> None:
    record = {"customer": {"identifier": None, "type": None}, "context": {"queue": "Sales"}}
    value = orjson.dumps(record)
    p = plan({"customer.identifier": "hash", "context.messageText": "drop", "contactId": "mask"})
    assert p.apply(record, value) is value


def test_only_the_dicts_a_plan_changes_are_copied(normalizer: Normalizer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import cxone_router.redaction as redaction

    record = normalized(normalizer, "email")
    serialized: list[Any] = []
    monkeypatch.setattr(redaction, "orjson", SimpleNamespace(
        dumps=lambda obj: serialized.append(obj) or orjson.dumps(obj)))
    plan({"context.messageText": "drop"}).apply(record, b"")
    (out,) = serialized
    assert out is not record and out["context"] is not record["context"]
    assert out["customer"] is record["customer"] and out["tenant"] is record["tenant"]


# ---- in the fan-out ---------------------------------------------------------------------

def fanout(routes: tuple[Route, ...], key: bytes | None = KEY) -> Fanout:
    return Fanout(routes, {r.name: f"cxone.fanout.{r.name}" for r in routes}, key)


def test_a_route_without_redaction_gets_the_channel_records_bytes_themselves(
        normalizer: Normalizer) -> None:
    record = normalized(normalizer, "sms")
    value = orjson.dumps(record)
    routes = (Route("raw", ()), Route("clean", (), (("context.messageText", "drop"),)))
    raw, clean = fanout(routes).outputs(record, b"k", value, HEADERS)
    assert raw.value is value and raw.headers is HEADERS
    assert TEXT.encode() not in clean.value
    assert clean.headers == [*HEADERS, (REDACTED_HEADER, b"context.messageText=drop")]


def test_routes_that_redact_alike_share_one_serialized_record(normalizer: Normalizer) -> None:
    record = normalized(normalizer, "chat")
    same = (("context.messageText", "drop"),)
    a, b = fanout((Route("a", (), same), Route("b", (), same))).outputs(
        record, b"k", orjson.dumps(record), HEADERS)
    assert a.value is b.value


@pytest.mark.parametrize("channel", ["voice", "chat", "sms", "email"])
def test_the_default_routes_keep_pii_from_those_that_redact_it(
        normalizer: Normalizer, channel: str) -> None:
    record = normalized(normalizer, channel)
    value = orjson.dumps(record)
    identifier = record["customer"]["identifier"]
    assert identifier in (PHONE, EMAIL)
    outputs = {o.topic.rsplit(".", 1)[1]: o.value
               for o in fanout(load_routes(SCHEMAS)).outputs(record, b"k", value, HEADERS)}
    assert "analytics" in outputs
    for secret in (PHONE, EMAIL, TEXT, "+18005550199"):
        assert secret.encode() not in outputs["analytics"], secret
    analytics = orjson.loads(outputs["analytics"])
    assert analytics["customer"]["identifier"] == hmac.new(
        KEY, identifier.encode(), "sha256").hexdigest()
    for route in ("crm-sync", "notification"):
        if route in outputs:  # they keep the identifier, not the text
            assert TEXT.encode() not in outputs[route]
            assert orjson.loads(outputs[route])["customer"]["identifier"] == identifier
    if channel == "email":
        assert orjson.loads(outputs["crm-sync"])["context"]["subject"] == f"Call me on {PHONE}"


# ---- validation and the key -------------------------------------------------------------

def routes_dir(tmp_path: Path, redact: Any) -> Path:
    (tmp_path / "mappings").symlink_to(SCHEMAS / "mappings")
    (tmp_path / "routes.json").write_bytes(orjson.dumps({"routes": [
        {"name": "analytics"}, {"name": "crm-sync", "redact": redact}]}))
    return tmp_path


@pytest.mark.parametrize("redact,error", [
    ({"context.mesageText": "drop"},
     "route 'crm-sync': redact 'context.mesageText': is not a field any mapping fills; "
     "redactable: contactId, "),
    ({"customer.phone": "hash"}, "route 'crm-sync': redact 'customer.phone': is not a field"),
    ({"interactionId": "hash"},
     "route 'crm-sync': redact 'interactionId': is the record's key or an enum"),
    ({"customer.identifier": "encrypt"},
     "route 'crm-sync': redact 'customer.identifier': unknown action 'encrypt' "
     "(drop, hash, mask)"),
    (["customer.identifier"], "route 'crm-sync': 'redact' is an object of field: action"),
])
def test_a_bad_redaction_stops_start_up_naming_the_route_and_field(
        tmp_path: Path, redact: Any, error: str) -> None:
    with pytest.raises(MappingError) as caught:
        load_routes(routes_dir(tmp_path, redact))
    message = str(caught.value)
    assert error in message and "\n" not in message
    assert message.startswith(str(tmp_path / "routes.json"))


def test_a_route_that_hashes_without_a_key_stops_start_up() -> None:
    with pytest.raises(ConfigurationError) as caught:
        fanout(load_routes(SCHEMAS), key=None)
    assert str(caught.value).startswith(
        "route 'analytics' hashes 'context.dialedNumber' but CXR_REDACTION_KEY is not set")
    fanout((Route("x", (), (("context.messageText", "drop"),)),), key=None)  # no hash: fine


def test_a_short_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXR_REDACTION_KEY", "short-secret")
    with pytest.raises(ConfigurationError, match="CXR_REDACTION_KEY") as caught:
        load_settings()
    assert "short-secret" not in str(caught.value)
    monkeypatch.setenv("CXR_REDACTION_KEY", "a-long-enough-secret")
    key = load_settings().redaction_key
    assert key is not None and "a-long" not in repr(key)


def test_a_worker_without_a_key_exits_with_one_line(tmp_path: Path) -> None:
    """No broker needed: the plans are compiled before the worker connects."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXR_")}
    env.update(CXR_KAFKA_BOOTSTRAP="127.0.0.1:9", CXR_DATA_DIR=str(tmp_path),
               CXR_METRICS_PORT="0")
    done = subprocess.run([sys.executable, "-m", "cxone_router", "worker"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "CXR_REDACTION_KEY is not set" in lines[0], done.stderr
