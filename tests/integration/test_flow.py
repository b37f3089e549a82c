"""The pipeline end to end: real broker, worker and edge processes, real HTTP and topics."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlencode

import fastjsonschema
import orjson
import pytest

from cxone_router.samples import brief, dfo, studio_voice
from cxone_router.stack import Stack
from tests.integration.harness import make_stack, post, read, values

pytestmark = pytest.mark.integration
FORM = "application/x-www-form-urlencoded"
validate_record = fastjsonschema.compile(
    orjson.loads(Path("schemas/interaction.v1.json").read_bytes())
)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def test_each_shape_and_channel_lands_on_its_topic(stack: Stack) -> None:
    t = stack.topics
    cases = {  # interaction id -> (body, content type, channel, customer type, direction)
        (i := uid("bv")): (brief("interaction.created", i, "voice"), "voice", "phone"),
        (i := uid("bc")): (brief("interaction.created", i, "chat"), "chat", "phone"),
        (i := uid("bs")): (brief("interaction.completed", i, "sms"), "sms", "phone"),
        (i := uid("be")): (brief("interaction.updated", i, "email",
                                 customer={"email": "a@example.com"}), "email", "email"),
        (i := str(uuid.uuid4())): (dfo("MessageCreated", i, "chat"), "chat", "external"),
        (i := str(uuid.uuid4())): (dfo("CaseCreated", i, "sms", renamed=True), "sms", "phone"),
        (i := str(uuid.uuid4())): (dfo("CaseStatusChanged", i, "email", status="closed"),
                                   "email", "email"),
    }
    for body, _, _ in cases.values():
        assert (await post(stack, body)).status_code == 202
    studio_contact, studio_upper = uid("5"), uid("6")  # CXone's ANI, DNIS, CONTACTID... too
    for contact, uppercase in ((studio_contact, False), (studio_upper, True)):
        form = urlencode(studio_voice(contact, "Disconnected", uppercase=uppercase)).encode()
        assert (await post(stack, form, FORM)).status_code == 202
    studio_any_case = uid("7")  # a Studio author's own spelling: contactid, IsInbound...
    fields = studio_voice(studio_any_case, "Disconnected")
    respelled = {(n.lower() if i % 2 else n.upper()): v for i, (n, v) in enumerate(fields.items())}
    assert (await post(stack, urlencode(respelled).encode(), FORM)).status_code == 202

    studios = {studio_contact, studio_upper, studio_any_case}
    wanted = set(cases) | studios
    ends = {i for i, (b, _, _) in cases.items()
            if b["eventType"] in ("interaction.completed", "CaseStatusChanged")} | studios
    inbound_sms_chat = {i for i, (_, ch, _) in cases.items() if ch in ("sms", "chat")}
    expected_on = {"analytics": wanted, "crm-sync": ends, "notification": inbound_sms_chat}

    def keys_on(records: list, topic: str) -> set[str]:
        return {r.key.decode() for r in records if r.topic == topic}

    def arrived(records: list) -> bool:
        on_channels = {r.key.decode() for r in records if ".interactions." in r.topic}
        return wanted <= on_channels and all(
            keys <= keys_on(records, t.fanout(route)) for route, keys in expected_on.items())

    channel_topics = [t.channel(c) for c in t.channels]
    records = await read(stack, [*channel_topics, *(t.fanout(r) for r in t.routes)], arrived)
    by_id = {}
    for r in records:
        if ".interactions." in r.topic and r.key.decode() in wanted:
            by_id[r.key.decode()] = (r.topic, orjson.loads(r.value))
    assert set(by_id) == wanted

    for interaction_id, (body, channel, customer_type) in cases.items():
        topic, record = by_id[interaction_id]
        validate_record(record)
        assert topic == t.channel(channel)
        assert record["channel"] == channel
        assert record["interactionId"] == interaction_id
        assert record["customer"]["type"] == customer_type
        assert record["customer"]["identifier"]
        assert record["direction"] == "inbound"
        assert record["occurredAt"].endswith("Z") and record["receivedAt"].endswith("Z")
        assert record["eventType"] == body["eventType"]
        if "eventId" in body:  # DFO: tenant and contact come through
            assert record["eventId"] == body["eventId"]
            assert record["tenant"]["tenantId"] == body["data"]["brand"]["tenantId"]
            assert record["contactId"]

    # the value is JSON whatever the request was: the form's content type stays on raw
    output_types = {dict(r.headers).get("content-type") for r in records
                    if r.key.decode() in wanted}
    assert output_types == {b"application/json"}
    for contact in studios:
        topic, studio = by_id[contact]
        assert topic == t.channel("voice")
        validate_record(studio)
        assert studio["interactionId"] == studio["contactId"] == contact
        assert studio["customer"] == {"identifier": "+15550100123", "type": "phone"}
        assert studio["context"]["dialedNumber"] == "+18005550199"
        assert studio["context"]["skill"] == "Billing"
        assert studio["eventType"] == "Disconnected"

    for route, keys in expected_on.items():
        assert keys_on(records, t.fanout(route)) & wanted == keys, route


async def test_redelivered_event_comes_out_once(stack: Stack) -> None:
    interaction = uid("dup")
    dfo_event = dfo("MessageCreated", interaction, "chat")
    for _ in range(3):  # CXone redelivers the same bytes after a timeout
        assert (await post(stack, dfo_event)).status_code == 202
    done = dfo("CaseStatusChanged", interaction, "chat", status="closed")
    assert (await post(stack, done)).status_code == 202

    analytics = stack.topics.fanout("analytics")
    records = await read(stack, [stack.topics.channel("chat"), analytics],
                         lambda rs: sum(1 for r in rs if r.key == interaction.encode()) >= 4)
    mine = [r for r in records if r.key == interaction.encode()]
    for topic in (stack.topics.channel("chat"), analytics):
        event_ids = [v["eventId"] for v in values(mine, topic)]
        assert event_ids == [dfo_event["eventId"], done["eventId"]]


async def test_drifted_payload_is_normalized_and_missing_fields_are_listed(stack: Stack) -> None:
    drifted_id, lost_id = uid("drift"), uid("lost")
    drifted = brief("interaction.created", drifted_id, "sms", drifted=True)
    lost = brief("interaction.created", lost_id, "sms")
    lost["data"]["caller"] = lost["data"].pop("customer")  # moved somewhere no mapping knows
    for body in (drifted, lost):
        assert (await post(stack, body)).status_code == 202

    records = await read(stack, [stack.topics.channel("sms")],
                         lambda rs: {drifted_id, lost_id} <= {r.key.decode() for r in rs})
    by_id = {v["interactionId"]: v for v in values(records)}
    assert by_id[drifted_id]["customer"] == {
        "identifier": drifted["data"]["participants"][0]["phoneNumber"], "type": "phone"}
    assert "customer.identifier" not in by_id[drifted_id]["missingFields"]
    assert by_id[lost_id]["customer"] == {"identifier": None, "type": None}
    assert "customer.identifier" in by_id[lost_id]["missingFields"]


async def test_invalid_input_gets_4xx_and_is_not_published(stack: Stack) -> None:
    too_big = b'{"pad": "' + b"x" * stack.settings.max_body_bytes + b'"}'
    rejected = {
        b'{"eventType": "interaction.created",': ("application/json", 400),
        b'[{"eventType": "interaction.created"}]': ("application/json", 400),
        b"[" * 5000 + b"]" * 5000: ("application/json", 400),
        # parsed (under 1024 levels) but too deep to hash without an event id: was a 500
        b'{"a":' * 300 + b"{}" + b"}" * 300: ("application/json", 400),
        b"eventType=interaction.created": ("text/plain", 415),
        too_big: ("application/json", 413),
    }
    for body, (content_type, status) in rejected.items():
        response = await post(stack, body, content_type)
        assert response.status_code == status, body[:40]
        assert response.json()["status"] == "rejected"
    marker = brief("interaction.created", uid("marker"), "chat")
    assert (await post(stack, marker)).status_code == 202

    marker_bytes = orjson.dumps(marker)
    records = await read(stack, [stack.topics.raw],
                         lambda rs: any(r.value == marker_bytes for r in rs))
    published = {r.value for r in records}
    assert marker_bytes in published
    assert not published & set(rejected)


async def test_unprocessable_events_land_in_the_dlq_with_their_reason(stack: Stack) -> None:
    unknown = {"eventId": str(uuid.uuid4()), "eventType": "Ping", "data": {"id": uid("x")}}
    no_id = {"eventId": str(uuid.uuid4()), "eventType": "interaction.created",
             "data": {"channelType": "sms", "customer": {"phoneNumber": "+15550100999"}}}
    for body in (unknown, no_id):
        assert (await post(stack, body)).status_code == 202
    garbage = b"\xff not json at all " + uuid.uuid4().hex.encode()
    producer = stack.kafka.producer(acks="all")
    await producer.start()  # bypasses the edge, as a replay tool or another producer might
    try:
        await producer.send_and_wait(stack.topics.raw, garbage, key=b"garbage",
                                     headers=[("content-type", b"application/json")])
    finally:
        await producer.stop()

    expected = {orjson.dumps(unknown): "unknown_channel", orjson.dumps(no_id): "missing_field",
                garbage: "invalid_json"}
    records = await read(stack, [stack.topics.dlq],
                         lambda rs: set(expected) <= {r.value for r in rs})
    dead = [r for r in records if r.value in expected]
    assert {r.value for r in dead} == set(expected)  # the raw bytes, unchanged
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["cxr-dlq-reason"] == expected[record.value]
        assert headers["cxr-dlq-stage"] == "ingest"
        assert headers["cxr-dlq-source-topic"] == stack.topics.raw
        assert headers["cxr-dlq-source-offset"].isdigit()
        assert headers["cxr-dlq-attempt"] == "1"
        assert headers["cxr-dlq-error-class"] and headers["cxr-dlq-error-message"]
        assert headers["cxr-dlq-failed-at"].endswith("Z")


async def test_fifty_events_of_one_interaction_come_out_in_order(stack: Stack) -> None:
    interaction = uid("order")
    for seq in range(50):
        event = brief("interaction.updated", interaction, "chat", message={"body": str(seq)})
        event["webhookId"] = f"wh-{seq}"
        assert (await post(stack, event)).status_code == 202

    analytics = stack.topics.fanout("analytics")
    records = await read(stack, [stack.topics.channel("chat"), analytics],
                         lambda rs: sum(1 for r in rs if r.key == interaction.encode()) >= 100)
    mine = [r for r in records if r.key == interaction.encode()]
    channel = values(mine, stack.topics.channel("chat"))
    assert [int(v["context"]["messageText"]) for v in channel] == list(range(50))
    # analytics gets no message text (redacted): the same events in the same order
    assert [v["eventId"] for v in values(mine, analytics)] == [v["eventId"] for v in channel]
    for topic in (stack.topics.channel("chat"), analytics):
        assert len({r.partition for r in mine if r.topic == topic}) == 1


async def test_a_form_the_edge_accepts_under_a_raised_field_limit_is_normalized() -> None:
    """CXR_MAX_FORM_FIELDS is the edge's and the worker's limit alike: a Studio post with
    more fields than the default passes both (it was dead-lettered as invalid_json)."""
    import asyncio

    stack = make_stack(None, CXR_MAX_FORM_FIELDS="1500")
    await asyncio.to_thread(stack.start_all)
    try:
        contact = uid("6")
        fields = {**studio_voice(contact, "Connected"),
                  **{f"var{i}": str(i) for i in range(1200)}}  # a script's many variables
        assert (await post(stack, urlencode(fields).encode(), FORM)).status_code == 202
        voice, dlq = stack.topics.channel("voice"), stack.topics.dlq
        records = await read(stack, [voice, dlq],
                             lambda rs: any(r.key == contact.encode() for r in rs))
        assert [r.topic for r in records if r.key == contact.encode()] == [voice]
    finally:
        await asyncio.to_thread(stack.stop_all)
