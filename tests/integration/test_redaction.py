"""PII redaction per fan-out route, on the running worker: events of every channel carrying
phone numbers, e-mail addresses and message text go in through the edge; the channel topics
keep them, and no route that redacts a field carries its value anywhere in its records'
bytes (value and headers).

The routes are the repository's three, with their default redaction, plus two for this
test: `audit` (every record, no redaction: the channel record's bytes) and `masked`
(identifier masked). Embedded broker only: what is checked is the worker's output, not the
broker (the `broker` fixture is parametrized to "embedded" below)."""

from __future__ import annotations

import hmac
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from cxone_router.redaction import REDACTED_HEADER
from cxone_router.routing import Route, load_routes
from cxone_router.samples import brief, dfo, studio_voice
from cxone_router.settings import REPO_ROOT
from cxone_router.stack import Stack
from tests.integration.harness import post, read, running

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("broker", ["embedded"], indirect=True),
]

KEY = "integration-redaction-key-7f3a"
FORM = "application/x-www-form-urlencoded"
EXTRA_ROUTES = [
    {"name": "audit", "description": "test: every record, unredacted"},
    {"name": "masked", "description": "test: the identifier masked",
     "redact": {"customer.identifier": "mask", "context.messageText": "drop"}},
]


def uid(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's schemas, with the two test routes added to routes.json."""
    copy = tmp_path_factory.mktemp("redaction") / "schemas"
    shutil.copytree(REPO_ROOT / "schemas", copy)
    routes = orjson.loads((copy / "routes.json").read_bytes())
    routes["routes"].extend(EXTRA_ROUTES)
    (copy / "routes.json").write_bytes(orjson.dumps(routes))
    return copy


@pytest.fixture(scope="module")
def stack(broker: Any, schemas: Path) -> Iterator[Stack]:
    yield from running(broker, CXR_SCHEMAS_DIR=str(schemas), CXR_REDACTION_KEY=KEY)


def events() -> dict[str, tuple[bytes, str, dict[str, str]]]:
    """interaction id -> (body, content type, the PII it carries by kind), one per channel,
    each value unique to its event."""
    n = uuid.uuid4().int % 10**6
    phone = {c: f"+1555{i}{n:06d}" for i, c in enumerate(("voice", "sms", "chat", "email"))}
    email = {c: f"{c}.{n}@customer.example" for c in ("sms", "chat", "email")}
    text = {c: f"secret {c} message {n}" for c in ("sms", "chat", "email")}
    out: dict[str, tuple[bytes, str, dict[str, str]]] = {}

    voice = uid("v")
    form = {**studio_voice(voice, "Disconnected"), "ani": phone["voice"]}
    out[voice] = (urlencode(form).encode(), FORM, {"phone": phone["voice"]})

    sms = uid("s")
    body = brief("interaction.completed", sms, "sms", customer={"phoneNumber": phone["sms"]},
                 message={"body": f"{text['sms']}, mail me: {email['sms']}"})
    out[sms] = (orjson.dumps(body), "application/json",
                {"phone": phone["sms"], "email": email["sms"], "text": text["sms"]})

    for channel, identity, inside in (("chat", phone["chat"], email["chat"]),
                                      ("email", email["email"], phone["email"])):
        interaction = uid(channel[0])
        event = dfo("CaseStatusChanged", interaction, channel, status="closed",
                    text=f"{text[channel]} / {inside}")
        event["data"]["case"]["endUser"]["identities"][0]["idOnExternalPlatform"] = identity
        out[interaction] = (orjson.dumps(event), "application/json",
                            {"phone": phone[channel], "email": email[channel],
                             "text": text[channel]})
    return out


def raw_bytes(record: Any) -> bytes:
    """Everything a consumer receives: the value and every header."""
    return record.value + b"".join(k.encode() + v for k, v in record.headers)


def field(record: dict[str, Any], path: str) -> Any:
    parent, _, leaf = path.rpartition(".")
    return (record.get(parent) or {} if parent else record).get(leaf)


async def test_no_route_sees_what_it_redacts_and_the_channel_topics_keep_it(
        stack: Stack, schemas: Path) -> None:
    sent = events()
    for body, content_type, _ in sent.values():
        assert (await post(stack, body, content_type)).status_code == 202
    t = stack.topics
    routes: dict[str, Route] = {r.name: r for r in load_routes(schemas)}
    expected_routes = {  # by the routes' filters: everything ends an interaction here
        "analytics": set(sent), "crm-sync": set(sent), "audit": set(sent), "masked": set(sent),
        "notification": {i for i in sent if i[0] in "sc"},  # inbound sms and chat
    }
    mine = set(sent)

    def arrived(records: list[Any]) -> bool:
        keys = {(r.topic, r.key.decode()) for r in records}
        return all((t.fanout(r), i) in keys for r, ids in expected_routes.items() for i in ids) \
            and sum(1 for r in records if ".interactions." in r.topic
                    and r.key.decode() in mine) == len(sent)

    topics = [*(t.channel(c) for c in t.channels), *(t.fanout(r) for r in t.routes)]
    records = [r for r in await read(stack, topics, arrived, timeout=60)
               if r.key.decode() in mine]
    channel_records = {r.key.decode(): r for r in records if ".interactions." in r.topic}
    assert set(channel_records) == mine

    # the channel topics keep everything
    for interaction, (_, _, pii) in sent.items():
        for value in pii.values():
            assert value.encode() in channel_records[interaction].value, (interaction, value)

    seen = {route: set() for route in expected_routes}
    for record in records:
        if ".fanout." not in record.topic:
            continue
        route = routes[record.topic.rsplit(".fanout.", 1)[1]]
        interaction = record.key.decode()
        seen[route.name].add(interaction)
        original = orjson.loads(channel_records[interaction].value)
        got = orjson.loads(record.value)
        headers = dict(record.headers)
        # no value of a field the route redacts is anywhere in what it receives
        for path, _ in route.redact:
            if (secret := field(original, path)) is not None:
                assert str(secret).encode() not in raw_bytes(record), (route.name, path)
        if route.redact:
            assert headers[REDACTED_HEADER] == ",".join(f"{p}={a}" for p, a in route.redact
                                                        ).encode()
        else:
            assert record.value == channel_records[interaction].value
            assert REDACTED_HEADER not in headers
        identifier = original["customer"]["identifier"]
        pii = sent[interaction][2]
        if route.name == "analytics":  # nothing personal at all, the identifier joinable
            for value in pii.values():
                assert value.encode() not in raw_bytes(record), value
            assert got["customer"]["identifier"] == hmac.new(
                KEY.encode(), identifier.encode(), "sha256").hexdigest()
            assert got["customer"]["type"] == original["customer"]["type"]
        elif route.name in ("crm-sync", "notification"):  # whom, not what
            assert got["customer"]["identifier"] == identifier
            if "text" in pii:
                assert pii["text"].encode() not in raw_bytes(record)
                assert "messageText" not in got["context"]
        elif route.name == "masked":
            assert got["customer"]["identifier"] == "****" + identifier[-4:]
        assert {k: v for k, v in got.items() if k not in ("customer", "context")} == {
            k: v for k, v in original.items() if k not in ("customer", "context")}
    assert seen == expected_routes
