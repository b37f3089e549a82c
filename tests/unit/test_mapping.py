"""Normalization of every shape and channel, driven by the real files under schemas/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from cxone_router.mapping import Normalizer
from cxone_router.mapping.errors import MappingError, MissingField, UnknownChannel
from cxone_router.samples import brief, dfo, studio_voice

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dfo-MessageCreated.json"
RECEIVED = 1_767_261_600_000_000_000  # 2026-01-01T10:00:00Z


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer.from_dir(SCHEMAS)


def test_real_dfo_fixture_is_normalized(normalizer: Normalizer) -> None:
    record = normalizer.normalize(orjson.loads(FIXTURE.read_bytes()), RECEIVED)
    assert record["channel"] == "chat"
    assert record["eventId"] == record["idempotencyKey"] == "ca606da7-6c92-4bc7-b8f5-b0b56a12a005"
    assert record["interactionId"] == "10a73eb1-5d3c-448c-8e0a-8131b7a6b1a4"
    assert record["contactId"] == "e3f2d83e-adb5-414e-a772-13981e75cfd9"
    assert record["eventType"] == "MessageCreated"
    assert record["direction"] == "inbound"
    assert record["occurredAt"] == "2022-08-04T18:27:35.450Z"  # +01:00 converted to UTC
    assert record["receivedAt"] == "2026-01-01T10:00:00.000Z"
    assert record["customer"]["type"] == "external"
    assert record["tenant"] == {"tenantId": "11e885fb-cfb6-0c20-bb51-0242ac110002",
                                "businessUnitId": "4597607"}
    assert record["context"]["messageText"] == "A message"
    assert record["missingFields"] == ["context.queue"]


@pytest.mark.parametrize("channel", ["voice", "chat", "sms", "email"])
def test_brief_shape_for_every_channel(normalizer: Normalizer, channel: str) -> None:
    record = normalizer.normalize(brief("interaction.created", "int-42", channel), RECEIVED)
    assert record["channel"] == channel
    assert record["interactionId"] == "int-42"
    assert record["direction"] == "inbound"  # the brief's bug took this as the interaction id
    assert record["customer"]["type"] == ("email" if channel == "email" else "phone")
    assert record["context"]["queue"] == "Sales"


@pytest.mark.parametrize("renamed", [False, True], ids=["data.case", "data.contact"])
@pytest.mark.parametrize("box,customer_type", [("chat", "external"), ("sms", "phone"),
                                               ("email", "email")])
def test_dfo_case_and_its_newer_name_contact(normalizer: Normalizer, renamed: bool, box: str,
                                              customer_type: str) -> None:
    event = dfo("CaseStatusChanged", "int-7", box, status="closed", renamed=renamed)
    record = normalizer.normalize(event, RECEIVED)
    assert record["channel"] == box
    assert record["interactionId"] == "int-7"
    assert record["contactId"] == event["data"]["contact" if renamed else "case"]["contactId"]
    assert record["context"]["status"] == "closed"
    assert record["customer"]["type"] == customer_type


@pytest.mark.parametrize("is_inbound,direction", [("true", "inbound"), ("false", "outbound"),
                                                  ("1", "inbound"), ("maybe", None)])
def test_studio_voice_post(normalizer: Normalizer, is_inbound: str, direction: str | None) -> None:
    fields = {**studio_voice("5551234", "Disconnected"), "isInbound": is_inbound}
    record = normalizer.normalize(fields, RECEIVED)
    assert record["channel"] == "voice"
    assert record["interactionId"] == "5551234"  # masterId, then contactId
    assert record["direction"] == direction
    assert record["customer"] == {"identifier": "+15550100123", "type": "phone"}
    assert record["context"]["skill"] == "Billing"
    assert ("direction" in record["missingFields"]) is (direction is None)


def test_studio_post_with_cxones_uppercase_system_variables(normalizer: Normalizer) -> None:
    """ANI, DNIS, CONTACTID, MASTERID and SKILL as CXone names them give the same record as
    the lowercase names (and the edge the same partition key)."""
    lower = studio_voice("5551234", "Disconnected")
    upper = studio_voice("5551234", "Disconnected", uppercase=True)
    upper["startTimeUtc"] = lower["startTimeUtc"]
    assert {"ANI", "DNIS", "CONTACTID", "MASTERID", "SKILL"} <= set(upper)
    assert not {"ani", "dnis", "contactId", "masterId", "skill"} & set(upper)
    keys = normalizer.keys(lower)  # a content hash: the bodies differ, the records must not
    record = normalizer.normalize(upper, RECEIVED, keys)
    assert record == normalizer.normalize(lower, RECEIVED, keys)
    assert record["channel"] == "voice"
    assert record["missingFields"] == ["tenant.tenantId", "tenant.businessUnitId",
                                       "context.queue"]  # not in a Studio post either way
    assert record["contactId"] == record["interactionId"] == "5551234"
    assert record["customer"] == {"identifier": "+15550100123", "type": "phone"}
    assert record["context"]["dialedNumber"] == "+18005550199"
    assert record["context"]["masterId"] == "5551234"
    assert record["context"]["skill"] == "Billing"
    assert normalizer.interaction_id(upper) == "5551234"
    # only CXone's own variables: still voice, not unknown_channel
    bare = normalizer.normalize({"ANI": "+15550100123", "CONTACTID": "77"}, RECEIVED)
    assert (bare["channel"], bare["interactionId"]) == ("voice", "77")
    assert normalizer.normalize({"DNIS": "+18005550199", "MASTERID": "78"},
                                RECEIVED)["interactionId"] == "78"


def test_drift_to_participants_is_followed(normalizer: Normalizer) -> None:
    record = normalizer.normalize(brief("interaction.created", "i", "sms", drifted=True),
                                  RECEIVED)
    assert record["customer"]["identifier"].startswith("+1555")
    assert "customer.identifier" not in record["missingFields"]


def test_unknown_drift_is_listed_in_missing_fields(normalizer: Normalizer) -> None:
    event = brief("interaction.created", "i", "sms")
    event["data"]["caller"] = event["data"].pop("customer")
    record = normalizer.normalize(event, RECEIVED)
    assert record["customer"] == {"identifier": None, "type": None}
    assert "customer.identifier" in record["missingFields"]


def test_unknown_channel_and_missing_interaction_id_are_dead_letters(
        normalizer: Normalizer) -> None:
    with pytest.raises(UnknownChannel) as unknown:
        normalizer.normalize({"eventId": "e", "data": {"id": "x", "channelType": "fax"}}, RECEIVED)
    assert unknown.value.reason == "unknown_channel"
    with pytest.raises(MissingField) as missing:
        normalizer.normalize({"eventId": "e", "data": {"channelType": "sms"}}, RECEIVED)
    assert missing.value.reason == "missing_field"


def test_idempotency_key_prefers_event_id_then_brief_composite_then_hash(
        normalizer: Normalizer) -> None:
    assert normalizer.keys({"eventId": "e-1", "webhookId": "w"}).idempotency_key == "e-1"
    event = brief("interaction.completed", "int-1", "voice")
    keys = normalizer.keys(event)
    assert keys.idempotency_key == "|".join(
        ["wh-demo", "int-1", "interaction.completed", event["timestamp"]])
    assert keys.event_id.startswith("h-") and keys.event_id == normalizer.keys(event).event_id
    a = normalizer.keys({"contactId": "1", "ani": "+1", "status": "x"})
    b = normalizer.keys({"status": "x", "ani": "+1", "contactId": "1"})  # same, other order
    c = normalizer.keys({"status": "y", "ani": "+1", "contactId": "1"})
    assert a == b and a != c and a.idempotency_key.startswith("sha256:")


def test_interaction_id_for_the_edges_partition_key(normalizer: Normalizer) -> None:
    assert normalizer.interaction_id(dfo("CaseCreated", "int-9", "chat")) == "int-9"
    assert normalizer.interaction_id({"data": {"id": "int-3"}}) == "int-3"  # no channel
    assert normalizer.interaction_id({"eventType": "x"}) is None


def _write(tmp: Path, files: dict[str, Any]) -> Path:
    (tmp / "mappings").mkdir()
    for name, content in files.items():
        (tmp / "mappings" / name).write_bytes(orjson.dumps(content))
    (tmp / "interaction.v1.json").write_bytes((SCHEMAS / "interaction.v1.json").read_bytes())
    return tmp


def test_a_bad_mapping_file_stops_start_up_naming_the_file(tmp_path: Path) -> None:
    common = {"required": ["interactionId"], "fields": {"interactionId": ["$.data.id"]}}
    bad = {"channel": "chat", "detect": [{"path": "$.x", "in": ["chat"]}],
           "fields": {"context.queue": ["$.data..[broken"]}}
    with pytest.raises(MappingError, match=r"chat\.json.*context\.queue"):
        Normalizer.from_dir(_write(tmp_path, {"common.json": common, "chat.json": bad}))


def test_a_mapping_may_only_write_record_fields(tmp_path: Path) -> None:
    common = {"required": ["interactionId"], "fields": {"interactionId": ["$.data.id"]}}
    bad = {"channel": "chat", "detect": [{"path": "$.x", "exists": True}],
           "fields": {"queue": ["$.data.queue"]}}
    with pytest.raises(MappingError, match="not a record field"):
        Normalizer.from_dir(_write(tmp_path, {"common.json": common, "chat.json": bad}))


@pytest.mark.parametrize("timestamp", [1e20, -1e20, "99999999999999999999", "not a time"])
def test_an_out_of_range_timestamp_is_like_an_unparseable_one(normalizer: Normalizer,
                                                              timestamp: Any) -> None:
    """Not a dead letter with a traceback: the event is normalized without occurredAt."""
    payload = brief("interaction.created", "int-43", "chat")
    payload["timestamp"] = timestamp
    record = normalizer.normalize(payload, RECEIVED)
    assert record["occurredAt"] is None
    assert record["interactionId"] == "int-43"


def _form(fields: dict[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()


@pytest.mark.parametrize("spell", [str.lower, str.upper, str.title,
                                   lambda n: n[0].upper() + n[1:]],
                         ids=["lower", "upper", "title", "capitalized"])
def test_studio_form_names_in_any_letter_case_map_the_same(normalizer: Normalizer,
                                                           spell: Any) -> None:
    """Studio authors name their variables in any case: a form whose names differ from the
    mappings' only in case gives the same record and interaction id."""
    from cxone_router.payload import FORM, decode

    fields = studio_voice("5551234", "Disconnected")
    as_mapped = decode(_form(fields), FORM, form_names=normalizer.form_names)
    respelled = {spell(name): value for name, value in fields.items()}
    assert set(respelled) != set(fields) or spell is str.lower
    as_sent = decode(_form(respelled), FORM, form_names=normalizer.form_names)
    # renamed to a spelling the mappings use (CXone's CONTACTID or contactId), values kept
    assert sorted(as_sent.values()) == sorted(as_mapped.values())
    assert {n.casefold() for n in as_sent} == {n.casefold() for n in fields}
    keys = normalizer.keys(as_mapped)  # a content hash: the bodies differ, the records must not
    assert normalizer.interaction_id(as_sent) == "5551234"  # the edge's partition key
    record = normalizer.normalize(as_sent, RECEIVED, keys)
    assert record == normalizer.normalize(as_mapped, RECEIVED, keys)
    assert record["missingFields"] == ["tenant.tenantId", "tenant.businessUnitId",
                                       "context.queue"]


def test_form_names_keep_exact_spellings_and_never_overwrite(normalizer: Normalizer) -> None:
    names = normalizer.form_names
    # both spellings the mappings use stay as sent; an unmapped name too
    assert names({"ANI": "1", "ani": "2", "myVariable": "x"}) == \
        {"ANI": "1", "ani": "2", "myVariable": "x"}
    # `ISINBOUND` would become `isInbound`, which the form has: both kept as they are
    assert names({"isInbound": "a", "ISINBOUND": "b"}) == {"isInbound": "a", "ISINBOUND": "b"}
    assert names({"ISINBOUND": "b"}) == {"isInbound": "b"}
    [(renamed, value)] = names({"ContactID": "b"}).items()
    assert value == "b" and renamed in ("contactId", "CONTACTID")


def test_json_bodies_keep_their_names(normalizer: Normalizer) -> None:
    """Only forms are renamed: JSON is the senders' own structure, mapped exactly."""
    from cxone_router.payload import JSON, decode

    assert decode(b'{"ContactID": "1"}', JSON, form_names=normalizer.form_names) == \
        {"ContactID": "1"}
