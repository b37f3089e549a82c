"""Golden outputs of the worker's transform, captured from the implementation before its
optimisation (issue 15, item 3), so that a faster transform is proven to write the same.

Each case is a raw record (value, headers, partition) and everything the transform makes of
it: the decoded payload's keys and dedup key, the detected channel, the interaction id,
the normalized record's bytes, and every output (topic, key, value, headers) for two
configurations: the project's `schemas/` and the same mappings under `ROUTES_VARIANT`
(routes that filter by each condition kind and redact by each action, not shared). An
event that fails records the exception's type, message, `reason` and `channel`.

The inputs are stored with the outputs (the simulator's traffic and the samples may change
later; this file must not). Regenerate only on purpose, when outputs are meant to change:

    .venv/bin/python -m tests.unit.transform_golden
"""

from __future__ import annotations

import lzma
import random
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from cxone_router.agents.dedup import DedupIndex
from cxone_router.agents.fanout import Fanout
from cxone_router.agents.outputs import EventOutputs, decode_raw
from cxone_router.kafka.topics import Topics
from cxone_router.mapping import Normalizer
from cxone_router.redaction import DEV_REDACTION_KEY
from cxone_router.routing import load_routes
from cxone_router.settings import REPO_ROOT

SCHEMAS = REPO_ROOT / "schemas"
GOLDEN = Path(__file__).resolve().parent / "fixtures" / "transform-golden.json.xz"
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "dfo-MessageCreated.json"
MAX_FORM_FIELDS = 200
RECEIVED = 1_767_261_600_123_456_789
EPOCH = 1_767_261_600.0

ROUTES_VARIANT: dict[str, Any] = {"routes": [
    {"name": "everything"},
    {"name": "masked", "redact": {"customer.identifier": "mask", "context.queue": "mask",
                                  "occurredAt": "mask", "context.messageText": "mask"}},
    {"name": "hashed", "redact": {"contactId": "hash", "context.status": "hash",
                                  "eventType": "hash", "tenant.businessUnitId": "hash"},
     "any": [{"where": [{"path": "$.context.status", "exists": True}]},
             {"where": [{"path": "$.customer.identifier", "matches": "^\\+1555"}]}]},
    {"name": "dropped", "redact": {"tenant.tenantId": "drop", "context.agent": "drop",
                                   "context.skill": "drop", "customer.identifier": "drop"},
     "any": [{"channels": ["email", "voice"],
              "where": [{"path": "$.direction", "equals": "INBOUND"}]},
             {"eventTypes": ["MessageCreated"]}]},
    {"name": "same-as-dropped", "redact": {"tenant.tenantId": "drop", "context.agent": "drop",
                                           "context.skill": "drop",
                                           "customer.identifier": "drop"},
     "any": [{"where": [{"path": "$.tenant.tenantId", "exists": False}]},
             {"where": [{"path": "$.channel", "in": ["sms", "CHAT"]}]}]},
]}


# ---- inputs -------------------------------------------------------------------------------


def _headers(content_type: str | None, i: int, extra: bool) -> list[tuple[str, str]]:
    headers = []
    if content_type is not None:
        headers.append(("content-type", content_type))
    headers.append(("cxr-received-ns", str(RECEIVED + i * 1_000_003)))
    if extra:
        headers.append(("cxr-request-id", f"req-{i}"))
        if i % 3 == 0:
            headers.append(("cxr-replayed-from", f"x.webhooks.dlq:1:{i}"))
    return headers


_HOSTILE: list[Any] = [None, "", "  ", " padded ", [], {}, [[]], {"a": 1}, 0, -1, 7, 1.5,
                       1e20, float("1e308"), True, False, "²", "٣", "9" * 30, "INBOUND",
                       "Out", "2026-01-01T10:00:00+01:00", "2026-01-01T10:00:00", "1767261600",
                       "1767261600000", "x" * 300, "ünïcödé ☎", "\u2028", "voice", "chat"]


def _mutate(rng: random.Random, doc: Any, depth: int = 0) -> Any:
    """`doc` with some values swapped for hostile ones, some keys dropped, some re-cased."""
    if isinstance(doc, dict):
        out: dict[str, Any] = {}
        for k, v in doc.items():
            roll = rng.random()
            if roll < 0.05:
                continue
            if roll < 0.08:
                k = k.upper()
            out[k] = rng.choice(_HOSTILE) if rng.random() < 0.12 else _mutate(rng, v, depth + 1)
        return out
    if isinstance(doc, list):
        return [_mutate(rng, v, depth + 1) for v in doc]
    return doc


def _traffic(count: int, seed: int, malformed: float, drift: float) -> Iterator[Any]:
    from cxone_router.simulate.generators import Traffic
    from cxone_router.simulate.profiles import Profile

    profile = Profile(rate=None, redeliveries=0.0, malformed=malformed, drift=drift)
    for n, event in enumerate(Traffic(profile, seed=seed, epoch=EPOCH)):
        if n == count:
            return
        yield event


def _handmade() -> list[tuple[bytes | None, str | None]]:
    deep = b"[" * 300 + b"]" * 300
    deep_obj = b'{"x":' * 300 + b"1" + b"}" * 300
    brief = {"webhookId": "wh", "eventType": "interaction.created", "timestamp": 1767261600123,
             "data": {"id": "i-1", "channelType": "voice", "direction": "in",
                      "customer": {"phoneNumber": "+15550100777"}}}
    return [
        (None, "application/json"),
        (b"", "application/json"),
        (b"[]", "application/json"),
        (b'"text"', "application/json"),
        (b"{", "application/json"),
        (deep, "application/json"),
        (deep_obj, "application/json"),
        (orjson.dumps(brief), "application/json; charset=utf-8"),
        (orjson.dumps(brief), "application/vnd.cxone+json"),
        (orjson.dumps(brief), "APPLICATION/JSON"),
        (orjson.dumps(brief), None),
        (orjson.dumps(brief), "text/plain"),
        (orjson.dumps(brief), "application/x-www-form-urlencoded"),
        (b"  " + orjson.dumps(brief), "application/x-www-form-urlencoded"),
        (b"", "application/x-www-form-urlencoded"),
        (b"a=1&a=2&a=3&b=&c", "application/x-www-form-urlencoded"),
        (b"\xff\xfe=1", "application/x-www-form-urlencoded"),
        ("&".join(f"f{i}=v" for i in range(300)).encode(), "application/x-www-form-urlencoded"),
        (urlencode({"contactId": "c-9", "isInbound": "false", "status": "Active",
                    "startTimeUtc": "2026-01-01T10:00:00"}).encode(),
         "application/x-www-form-urlencoded"),
        (urlencode({"CONTACTID": "c-10", "MASTERID": "m-10", "ANI": "+15550100001",
                    "isInbound": "true", "status": "Disconnected"}).encode(),
         "application/x-www-form-urlencoded"),
        (orjson.dumps({**brief, "eventId": 12345}), "application/json"),
        (orjson.dumps({**brief, "eventId": True}), "application/json"),
        (orjson.dumps({**brief, "eventId": "   "}), "application/json"),
        (orjson.dumps({**brief, "eventId": ["a"]}), "application/json"),
        (orjson.dumps({"eventType": "Ping", "data": {"id": "x"}}), "application/json"),
        (orjson.dumps({"data": {"channelType": "voice"}}), "application/json"),
        (orjson.dumps({"data": {"channelType": ["voice"], "id": "i-2"}}), "application/json"),
        (orjson.dumps({**brief, "data": {**brief["data"], "id": ""}}), "application/json"),
        (orjson.dumps({**brief, "data": {**brief["data"], "id": 42}}), "application/json"),
        (orjson.dumps({**brief, "data": {**brief["data"], "participants": "x"}}),
         "application/json"),
        (orjson.dumps({**brief, "data": {**brief["data"], "customer": None,
                                         "participants": [{"phoneNumber": 5550100}]}}),
         "application/json"),
        (orjson.dumps({**brief, "timestamp": "9" * 5000}), "application/json"),
        (orjson.dumps({**brief, "timestamp": -1e300}), "application/json"),
        (orjson.dumps({**brief, "timestamp": "0001-01-01T00:00:00+14:00"}), "application/json"),
    ]


def inputs() -> list[dict[str, Any]]:
    """Every case's raw record (bodies as latin-1 text, so that any bytes survive JSON)."""
    from cxone_router.samples import demo_samples

    raw: list[tuple[str, bytes | None, str | None]] = []
    for event in _traffic(3_000, seed=7, malformed=0.03, drift=0.1):
        raw.append(("traffic", event.body, event.content_type))
    for event in _traffic(600, seed=8, malformed=0.0, drift=0.6):
        raw.append(("drifted", event.body, event.content_type))
    rng = random.Random(15)
    for event in _traffic(1_200, seed=9, malformed=0.0, drift=0.3):
        if event.content_type.startswith("application/json"):
            body = orjson.dumps(_mutate(rng, orjson.loads(event.body)))
        else:
            body = event.body.replace(b"=", b"=" if rng.random() < 0.5 else b"=%20", 1)
        raw.append(("mutated", body, event.content_type))
    for sample in demo_samples():
        raw.append((f"sample {sample.label}", sample.body, sample.content_type))
    raw.append(("fixture dfo-MessageCreated", FIXTURE.read_bytes(), "application/json"))
    raw += [(f"handmade {i}", body, ct) for i, (body, ct) in enumerate(_handmade())]
    return [
        {"label": label,
         "value": None if body is None else body.decode("latin-1"),
         "headers": _headers(ct, i, extra=i % 2 == 1),
         "partition": i % 6}
        for i, (label, body, ct) in enumerate(raw)
    ]


# ---- the transform ------------------------------------------------------------------------


class Subject:
    """The worker's transform objects for one schemas folder, as `create_app` builds them."""

    def __init__(self, schemas_dir: Path) -> None:
        self.schemas_dir = str(schemas_dir)
        self.normalizer = Normalizer.from_dir(schemas_dir)
        routes = load_routes(schemas_dir)
        topics = Topics.of("golden", self.normalizer, routes)
        self.fanout = Fanout(routes, {r.name: topics.fanout(r.name) for r in routes},
                             DEV_REDACTION_KEY.encode())
        self.outputs = EventOutputs(
            self.normalizer, {c: topics.channel(c) for c in self.normalizer.channels},
            self.fanout)


def variant_schemas(directory: Path) -> Path:
    """A copy of `schemas/` with `ROUTES_VARIANT` as its routes."""
    target = directory / "schemas"
    shutil.copytree(SCHEMAS, target)
    (target / "routes.json").write_bytes(orjson.dumps(ROUTES_VARIANT))
    return target


def _error(exc: BaseException, schemas_dir: str) -> dict[str, Any]:
    """What a dead letter says of the error (the schemas folder, where it is, aside)."""
    return {"error": type(exc).__name__, "message": str(exc).replace(schemas_dir, "<schemas>"),
            "reason": getattr(exc, "reason", None), "channel": getattr(exc, "channel", None)}


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def outcome(subject: Subject, case: dict[str, Any]) -> dict[str, Any]:
    """Everything the transform makes of one raw record (what `Ingest._process` does for a
    new event, plus what the edge and the duplicate path ask of the normalizer)."""
    value = None if case["value"] is None else case["value"].encode("latin-1")
    headers = {k: v.encode() for k, v in case["headers"]}
    normalizer = subject.normalizer
    try:
        payload = decode_raw(value, headers, MAX_FORM_FIELDS)
    except Exception as exc:  # noqa: BLE001 - the outcome to compare
        return {"decode": _error(exc, subject.schemas_dir)}
    out: dict[str, Any] = {}
    try:
        spec = normalizer.detect(payload)
        out["detect"] = None if spec is None else spec.channel
        out["interactionId"] = normalizer.interaction_id(payload)
    except Exception as exc:  # noqa: BLE001
        out["detect"] = _error(exc, subject.schemas_dir)
    try:
        keys = normalizer.keys(payload)
    except Exception as exc:  # noqa: BLE001
        out["keys"] = _error(exc, subject.schemas_dir)
        return out
    out["keys"] = [keys.idempotency_key, keys.event_id,
                   DedupIndex.key(case["partition"], keys.idempotency_key)]
    try:
        record, outputs = subject.outputs.build(payload, headers, keys)
    except Exception as exc:  # noqa: BLE001
        out["build"] = _error(exc, subject.schemas_dir)
        return out
    out["record"] = _text(orjson.dumps(record))
    values: list[bytes] = [orjson.dumps(record)]  # a value seen before is stored as "@<n>"
    out["outputs"] = []
    for o in outputs:
        same = f"@{values.index(o.value)}" if o.value in values else None
        values.append(o.value)
        out["outputs"].append([o.topic, _text(o.key), same or _text(o.value),
                               [[k, _text(v)] for k, v in (o.headers or [])], o.partition])
    try:  # without keys: the normalizer derives them itself (reprocess, samples)
        out["normalized"] = _text(orjson.dumps(normalizer.normalize(payload, 1, None)))
    except Exception as exc:  # noqa: BLE001
        out["normalized"] = _error(exc, subject.schemas_dir)
    return out


def load() -> dict[str, Any]:
    return orjson.loads(lzma.decompress(GOLDEN.read_bytes()))  # type: ignore[no-any-return]


def capture(tmp: Path) -> dict[str, Any]:
    cases = inputs()
    default, variant = Subject(SCHEMAS), Subject(variant_schemas(tmp))
    return {"cases": cases,
            "default": [outcome(default, c) for c in cases],
            "variant": [outcome(variant, c) for c in cases]}


def main() -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        golden = capture(Path(tmp))
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_bytes(lzma.compress(orjson.dumps(golden), preset=9 | lzma.PRESET_EXTREME))
    print(f"{GOLDEN}: {len(golden['cases'])} cases, {GOLDEN.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

