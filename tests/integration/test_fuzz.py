"""Property-based fuzzing of the running edge and worker: real processes on the embedded
broker, real HTTP over loopback sockets, real topics.

Properties:
1. The edge never answers a 5xx (the broker is up throughout), and every answer is JSON of
   the documented shape for its status: 202 `{"status":"accepted","eventId":...}` with an
   `X-Request-Id`, 4xx `{"status":"rejected","error":...}`. Where the answer is decidable
   from the contract (unsupported type, too large, unparseable, parseable), it is that one.
2. The edge stays responsive: `/healthz`, probed all along the fuzz and while requests hang
   half-sent on open sockets, answers 200 within a generous bound.
3. Every 202 ends in exactly one place: a channel-topic record or a dead letter with a
   reason, both carrying the request's `cxr-request-id` (the edge writes it on the raw
   record, the ingest agent forwards it onto its outputs and dead letters), or it is a
   deduplicated repeat of an event id already on a channel topic. Every 202 is on the raw
   topic; a refused request that named its own request id is not.

The module runs on the embedded broker only (the fuzz checks the edge's and agents' input
handling, not the broker): the `broker` fixture is parametrized to "embedded" below.
Hypothesis runs derandomized, without an example database, so CI sees the same examples.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import socket
import string
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlencode, urlsplit

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxone_router.dlq import Reason
from cxone_router.kafka.headers import REQUEST_ID
from cxone_router.mapping import Normalizer
from cxone_router.payload import InvalidPayload, UnsupportedMediaType, decode, media_type
from cxone_router.samples import brief, demo_samples, dfo, studio_voice
from cxone_router.stack import Stack
from tests.integration.harness import read, wait_caught_up

pytestmark = [
    pytest.mark.integration,
    # one broker kind: overrides the session fixture's params (embedded, apache)
    pytest.mark.parametrize("broker", ["embedded"], indirect=True),
]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
HEALTHZ_BOUND_SECONDS = 5.0  # generous: the machine is shared and noisy
REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._:-]{1,128}")
GENERATED_REQUEST_ID = re.compile(r"[0-9a-f]{32}")
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
NORMALIZER = Normalizer.from_dir(SCHEMAS)


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, derandomize=True, database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.large_base_example, HealthCheck.filter_too_much],
    )


# --- what the fuzz remembers -------------------------------------------------------------

@dataclass
class Accepted:
    request_id: str
    event_id: str
    label: str
    body: bytes


class Ledger:
    """Every 202 of the module, and our own request ids that got a 4xx. Not a dataclass:
    hypothesis prints a failing example's arguments, and this repr stays short."""

    def __init__(self) -> None:
        self.accepted: list[Accepted] = []
        self.refused_ids: list[str] = []
        self.statuses: dict[int, int] = {}
        self.serial = itertools.count()

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"Ledger({len(self.accepted)} accepted, statuses {self.statuses})"

    def unique_prefix(self) -> bytes:
        return f"fz{next(self.serial)}-".encode()


class HealthProbe(threading.Thread):
    """GET /healthz every 0.2 s for as long as the module fuzzes; keeps every answer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True, name="healthz-probe")
        self.url = url
        self.answers: list[tuple[int | str, float]] = []
        self.halt = threading.Event()

    def probe(self) -> tuple[int | str, float]:
        started = time.monotonic()
        try:
            with httpx.Client(timeout=HEALTHZ_BOUND_SECONDS * 2) as client:
                status: int | str = client.get(self.url).status_code
        except httpx.HTTPError as exc:
            status = repr(exc)
        return status, time.monotonic() - started

    def run(self) -> None:
        while not self.halt.wait(0.2):
            self.answers.append(self.probe())


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.edge_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def healthz(stack: Stack) -> Iterator[HealthProbe]:
    probe = HealthProbe(f"{stack.edge_url}/healthz")
    probe.start()
    yield probe
    probe.halt.set()
    probe.join(timeout=15)


# --- sending one request and checking its answer -----------------------------------------

Header = tuple[bytes, bytes]


CODINGS = {"gzip", "x-gzip", "deflate"}


def inflated(body: bytes, coding_header: str | None) -> bytes | int:
    """What the contract makes of `Content-Encoding` (RFC 9110): the body decoded, with
    the standard library rather than the edge's code, or the status that decides it
    (415: a coding not taken; 400: not decodable)."""
    codings = [c.strip().lower() for c in (coding_header or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if any(c not in CODINGS for c in codings) or len(codings) > 2:
        return 415
    for coding in reversed(codings):
        try:
            if coding == "deflate":
                try:
                    body = zlib.decompress(body)
                except zlib.error:
                    body = zlib.decompress(body, -zlib.MAX_WBITS)
            else:
                body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return 400
    return body


def expected_status(body: bytes, content_type: str | None, max_body: int,
                    max_form_fields: int, coding_header: str | None = None) -> int | None:
    """The answer the contract decides for this body, or None when it is not decidable
    from outside (the edge's own identification of the event went wrong: property 1 still
    forbids a 5xx)."""
    try:
        media_type(content_type)
    except UnsupportedMediaType:
        return 415
    plain = inflated(body, coding_header)
    if plain == 415:
        return 415
    if len(body) > max_body:
        return 413
    if isinstance(plain, int):
        return plain
    if len(plain) > max_body:
        return 413
    body = plain
    try:
        payload = decode(body, content_type, max_form_fields)
        NORMALIZER.keys(payload)
    except InvalidPayload:
        return 400
    try:
        NORMALIZER.interaction_id(payload)
    except Exception:  # noqa: BLE001 - an oracle that cannot tell says nothing
        return None
    return 202


def send(client: httpx.Client, stack: Stack, ledger: Ledger, label: str, body: bytes,
         content_types: list[bytes] | None, request_ids: list[bytes] | None = None,
         extra: list[Header] | None = None, chunked: bool = False) -> httpx.Response:
    """POST a webhook, assert property 1 on the answer and file a 202 in the ledger.

    `content_types`: the Content-Type headers to send (None or [] = none; two = duplicates).
    `request_ids`: X-Request-Id values; a value the edge would keep gets a unique prefix, so
    no two requests of the module share an id (None = one of ours, always kept)."""
    if request_ids is None:
        sent_ids = [ledger.unique_prefix()]
    else:  # an empty value stays empty
        sent_ids = [ledger.unique_prefix() + value
                    if value and REQUEST_ID_OK.fullmatch(value.decode("latin-1")) else value
                    for value in request_ids]
    headers: list[Header] = [(b"content-type", ct) for ct in content_types or []]
    headers += [(b"x-request-id", rid) for rid in sent_ids]
    headers += extra or []
    content: Any = iter([body]) if chunked else body
    response = client.post("/webhooks/cxone", content=content, headers=headers)

    first_ct = content_types[0].decode("latin-1") if content_types else None
    coding = next((v.decode("latin-1") for n, v in extra or []
                   if n.lower() == b"content-encoding"), None)
    stored = inflated(body, coding)  # what the raw topic holds, for a 202
    first_id = sent_ids[0].decode("latin-1") if sent_ids else ""
    ours = first_id if REQUEST_ID_OK.fullmatch(first_id) else None
    context = (f"{label}: {response.status_code} {response.text[:300]!r} for "
               f"content-type {first_ct!r}, body {body[:200]!r}")
    status = response.status_code
    ledger.statuses[status] = ledger.statuses.get(status, 0) + 1

    assert status < 500, context
    assert response.headers.get("content-type", "").startswith(JSON), context
    answer = response.json()
    assert isinstance(answer, dict), context
    if status == 202:
        assert set(answer) == {"status", "eventId"}, context
        assert answer["status"] == "accepted", context
        assert isinstance(answer["eventId"], str) and answer["eventId"], context
        request_id = response.headers.get("x-request-id", "")
        if ours is not None:
            assert request_id == ours, context
        else:
            assert GENERATED_REQUEST_ID.fullmatch(request_id), context
        assert isinstance(stored, bytes), context
        ledger.accepted.append(Accepted(request_id, answer["eventId"], label, stored))
    else:
        assert 400 <= status < 500, context
        assert set(answer) == {"status", "error"}, context
        assert answer["status"] == "rejected", context
        assert isinstance(answer["error"], str) and answer["error"], context
        if status == 429:
            assert int(response.headers["retry-after"]) > 0, context
        if ours is not None:
            ledger.refused_ids.append(ours)
    wanted = expected_status(body, first_ct, stack.settings.max_body_bytes,
                             stack.settings.max_form_fields, coding)
    if wanted is not None and status != 429:
        assert status == wanted, f"expected {wanted}; {context}"
    return response


# --- strategies ---------------------------------------------------------------------------

# Keys and values the mappings look at, so that random documents reach the normalizer.
KNOWN_KEYS = ["eventId", "eventType", "webhookId", "timestamp", "createdAt", "data", "id",
              "channelType", "channel", "integrationBoxIdentifier", "realExternalPlatformId",
              "case", "contact", "interactionId", "contactId", "masterId", "ani", "dnis",
              "customer", "phoneNumber", "email", "participants", "direction", "isInbound",
              "startTimeUtc", "status", "brand", "tenantId", "message", "body", "queue", "name"]
KNOWN_VALUES = ["voice", "chat", "sms", "email", "phone", "call", "livechat", "inbound",
                "out", "true", "0", "interaction.created", "CaseStatusChanged", "closed"]
ODD_NUMBERS = ["NaN", "-NaN", "Infinity", "-Infinity", "inf", "1e400", "-1e400", "1e-400",
               "01", "1.", ".5", "+1", "1e", "0x10", "-0", "1E+2", "1" * 400,
               "123456789012345678901234567890", "-99999999999999999999999"]
ODD_STRINGS = ['"\\ud800"', '"\\udc00x"', '"\\u0000"', '"\\x41"', "'single'", '"a\nb"',
               '"\\uD83D\\uDE00"', '"\\u00e9"', '"unterminated']

json_leaf = st.one_of(
    st.sampled_from(["null", "true", "false", "True", "nil"]),
    st.integers().map(str),
    st.integers(min_value=-(2**200), max_value=2**200).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(ODD_NUMBERS),
    st.text(max_size=20).map(json.dumps),
    st.text(max_size=20).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.sampled_from(KNOWN_VALUES).map(json.dumps),
    st.sampled_from(ODD_STRINGS),
)
json_key = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12)).map(
    lambda k: json.dumps(k, ensure_ascii=False))


def _object(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(st.tuples(json_key, children), max_size=5).map(
        lambda kv: "{" + ",".join(f"{k}:{v}" for k, v in kv) + "}")


json_text = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        _object(children),
    ),
    max_leaves=25,
)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    """Mostly objects (so the mapping runs), sometimes any JSON value or near-JSON."""
    text: str = draw(st.one_of(_object(json_text), _object(json_text), json_text))
    text = draw(st.sampled_from(["", " ", "\n\t", "\ufeff"])) + text
    if draw(st.integers(0, 9)) == 0:  # truncated or with trailing junk
        text = draw(st.sampled_from([text[: len(text) // 2], text + "}", text + " x",
                                     text + text]))
    # lone surrogates from ensure_ascii=False go out as invalid UTF-8
    return text.encode("utf-8", "surrogatepass")


@st.composite
def deep_bodies(draw: st.DrawFn) -> bytes:
    """Nesting up to ~2000 levels, closed or not, alone or under an event id."""
    depth = draw(st.integers(1, 2000) | st.sampled_from([254, 255, 256, 1023, 1024, 1025]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"data":[', "]}")]))
    inner = opener * depth + draw(st.sampled_from(["{}", "[]", "1", '"x"', ""]))
    if draw(st.booleans()):
        inner += closer * depth
    if inner.startswith("[") or draw(st.booleans()):
        event_id = draw(st.uuids()).hex
        inner = f'{{"eventId":"{event_id}","channelType":"chat","data":{{"id":"deep"}},' \
                f'"x":{inner}}}'
    return inner.encode()


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


WEIRD_VALUES = st.one_of(
    st.sampled_from([
        1e20, -1e20, 1e300, -1, 0, -1.5, 2**63, 2**64, -(2**63) - 1, 10**30, True, False, None,
        "1e20", "nan", "NaN", "inf", "-1", "", " ", "0", "99999999999999999999",
        "9" * 5000, "²", "٣", "2024-13-45T25:61:00Z", "2024-02-30T00:00:00+25:00",
        "1970-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59.999999-23:59", "2024-01-01T00:00:00", "\u0000", "ünï©ødé 🙂",
        "x" * 5000,
    ]),
    st.text(max_size=30), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
)
# a container where the mapping expects a scalar (or the other way round)
WRONG_TYPES = st.sampled_from([[], {}, [1], {"a": 1}, ["voice"], ["chat", "sms"], {"name": None},
                               [[]], [{}], {"voice": True}])
ODD_VALUES = st.one_of(WEIRD_VALUES, WRONG_TYPES)


def _set(doc: Any, path: tuple[Any, ...], op: str, value: Any) -> None:
    parent = doc
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return
    leaf = path[-1]
    try:
        current = parent[leaf]
    except (KeyError, IndexError, TypeError):
        return
    if op == "drop":
        del parent[leaf]
    elif op == "set":
        parent[leaf] = value
    elif op == "wrap_list":
        parent[leaf] = [current]
    elif op == "wrap_dict":
        parent[leaf] = {"value": current}
    elif op == "stringify":
        parent[leaf] = json.dumps(current)


@st.composite
def mutated_samples(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """A valid CXone payload of some shape with a few fields dropped or made wrong."""
    kind = draw(st.sampled_from(["brief", "brief-drifted", "dfo", "dfo-contact", "studio"]))
    channel = draw(st.sampled_from(["voice", "chat", "sms", "email"]))
    ident = str(draw(st.uuids()))
    event_type = draw(st.sampled_from(["interaction.created", "interaction.completed",
                                       "MessageCreated", "CaseStatusChanged"]))
    doc: Any
    if kind.startswith("brief"):
        doc = brief(event_type, ident, channel, drifted=kind == "brief-drifted")
    elif kind.startswith("dfo"):
        doc = dfo(event_type, ident, channel, renamed=kind == "dfo-contact",
                  status=draw(st.sampled_from(["open", "closed"])))
        doc["eventId"] = str(draw(st.uuids()))  # hypothesis' ids: reproducible
    else:
        doc = studio_voice(ident[:8], draw(st.sampled_from(["Disconnected", "Active"])))
    for _ in range(draw(st.integers(0, 4))):
        paths = list(_paths(doc))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["drop", "set", "set", "wrap_list", "wrap_dict", "stringify"]))
        _set(doc, path, op, draw(ODD_VALUES))
    as_form = kind == "studio" and draw(st.booleans())
    if as_form:  # form fields are flat: nested values go as their JSON text
        flat = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in doc.items()]
        return kind, urlencode(flat).encode(), FORM
    # json, not orjson: integers beyond 64 bits go out as they are
    return kind, json.dumps(doc, ensure_ascii=draw(st.booleans())).encode(), JSON


def _mapping_paths() -> list[tuple[str | int, ...]]:
    """Every plain JSONPath the mapping files name (`$.data.case.id` -> ('data', 'case',
    'id')), so documents put odd values exactly where detection and mapping look."""
    found: set[tuple[str | int, ...]] = set()
    for file in sorted((SCHEMAS / "mappings").glob("*.json")):
        for expression in re.findall(r'"(\$\.[^"]+)"', file.read_text()):
            steps: list[str | int] = []
            for part in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", expression):
                steps.append(part[0] if part[0] else int(part[1]))
            found.add(tuple(steps))
    return sorted(found, key=str)


MAPPING_PATHS = _mapping_paths()


def _put(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = doc
    for step, following in zip(path, path[1:], strict=False):
        if isinstance(step, int):  # index steps: make the list long enough
            while len(node) <= step:
                node.append({} if isinstance(following, str) else [])
            node = node[step]
            continue
        child = node.get(step)
        wanted = list if isinstance(following, int) else dict
        if not isinstance(child, wanted):
            child = node[step] = wanted()
        node = child
    last = path[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value


@st.composite
def mapped_documents(draw: st.DrawFn) -> bytes:
    """Objects whose values sit on the mappings' own paths: known channel names and odd
    values (lists, objects, huge numbers, impossible timestamps) where scalars belong."""
    doc: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(MAPPING_PATHS), min_size=1, max_size=8)):
        value = draw(st.one_of(st.sampled_from(KNOWN_VALUES), WEIRD_VALUES, WRONG_TYPES))
        try:
            _put(doc, path, value)
        except (AttributeError, TypeError):  # an earlier path put a scalar in the way
            continue
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()


FORM_KEYS = ["contactId", "masterId", "ani", "dnis", "eventId", "isInbound", "startTimeUtc",
             "skill", "status", "channelType", "eventType", "data", "data.id", "data[id]"]
PERCENT_ERRORS = [b"%", b"%G1", b"%zz", b"%e9", b"%FF", b"%ED%A0%80", b"%00", b"+", b"%2",
                  b"%%", b"=", b";", b"%C3%28", b"%F0%9F%98%80", b"a=b=c", b"&&"]
NON_UTF8 = [b"\xff", b"\xe9", b"\xc3\x28", b"\x80", b"\xed\xa0\x80", b"\xfe\xff"]

form_token = st.one_of(
    st.sampled_from(FORM_KEYS).map(str.encode),
    st.sampled_from(KNOWN_VALUES).map(str.encode),
    st.text(max_size=12).map(lambda s: quote_plus(s).encode()),
    st.text(max_size=12).map(lambda s: quote(s, safe="").encode()),
    st.text(alphabet=string.printable, max_size=8).map(str.encode),  # unescaped & = % +
    st.sampled_from(PERCENT_ERRORS),
    st.sampled_from(NON_UTF8),
)


@st.composite
def form_bodies(draw: st.DrawFn) -> bytes:
    pairs: list[tuple[bytes, bytes]] = draw(
        st.lists(st.tuples(form_token, form_token), max_size=12))
    repeat: bool = draw(st.booleans())
    if pairs and repeat:  # repeated keys
        pairs += [(pairs[0][0], v) for v in draw(st.lists(form_token, min_size=1, max_size=3))]
    if draw(st.integers(0, 14)) == 0:  # around the field cap (CXR_MAX_FORM_FIELDS=200)
        count = draw(st.sampled_from([199, 200, 201, 400]))
        pairs = [(b"f%d" % i, b"v") for i in range(count)]
    separator = draw(st.sampled_from([b"&", b"&", b"&", b";", b"&&", b"&amp;"]))
    parts = [k if draw(st.integers(0, 5)) == 0 else k + b"=" + v for k, v in pairs]
    return separator.join(parts)


CONTENT_TYPES = [
    "application/json", "APPLICATION/JSON", "Application/Json; charset=utf-8",
    "application/json;charset=UTF-16", "application/json; charset=latin-1",
    "application/vnd.cxone.webhook+json", "application/problem+json", "application/json;;;",
    " application/json ", "application/json\t; x=y", "application/jsonx", "application/json5",
    FORM, "APPLICATION/X-WWW-FORM-URLENCODED", "application/x-www-form-urlencoded; charset=UTF-8",
    "application/x-www-form-urlencoded;charset=ISO-8859-1", "text/plain", "text/json",
    "multipart/form-data; boundary=xyz", "application/octet-stream", "*/*", "application/*",
    "json", "application", "/", ";", "; charset=utf-8", "",
]
HEADER_BYTES = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))


def header_values(max_size: int = 40) -> st.SearchStrategy[bytes]:
    """Anything an HTTP/1.1 field value may hold (visible ASCII, obs-text, inner spaces)."""
    return st.lists(st.sampled_from(list(HEADER_BYTES) + [0x20, 0x09]), max_size=max_size).map(
        lambda bs: bytes(bs).strip(b" \t"))


content_type_values = st.one_of(
    st.sampled_from(CONTENT_TYPES).map(lambda s: s.encode().strip()),
    st.tuples(st.text(string.ascii_letters + "-+.", min_size=1, max_size=12),
              st.text(string.ascii_letters + "-+.", min_size=1, max_size=12)).map(
        lambda ts: f"{ts[0]}/{ts[1]}".encode()),
    header_values(),
)
# [] = no Content-Type header at all; two = a duplicated header
content_type_sets: st.SearchStrategy[list[bytes]] = st.one_of(
    st.just([]), st.lists(content_type_values, min_size=1, max_size=1),
    st.lists(content_type_values, min_size=2, max_size=2),
)
form_content_types = st.one_of(
    st.sampled_from([[FORM.encode()], [b"Application/X-WWW-Form-Urlencoded; charset=utf-8"],
                     [b"application/x-www-form-urlencoded;charset=ISO-8859-1"]]),
    content_type_sets,
)
json_content_types = st.one_of(
    st.sampled_from([[JSON.encode()], [b"application/json; charset=utf-8"], [],
                     [FORM.encode()]]),
    content_type_sets,
)

# what the server or the transport owns: a random value there tests httpx, not the edge
RESERVED = {"content-length", "transfer-encoding", "host", "connection", "expect", "upgrade",
            "te", "trailer", "keep-alive", "content-type", "x-request-id", "proxy-connection"}
header_names = st.text(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~",
                       min_size=1, max_size=24).filter(lambda n: n.lower() not in RESERVED)
extra_headers = st.lists(
    st.tuples(st.one_of(header_names, st.sampled_from(
        ["X-Signature", "X-Timestamp", "Authorization", "Content-Encoding", "Accept",
         "Accept-Charset", "Cookie", "X-Forwarded-For", "cxr-request-id", "cxr-dlq-reason",
         "cxr-received-ns", "Content-Language", "Origin"])).map(str.encode),
        header_values(60)),
    max_size=10,
)
request_id_values = st.one_of(
    st.just(b""),  # empty: the edge makes one
    st.text("ABCxyz019._:-", min_size=1, max_size=20).map(str.encode),  # kept (made unique)
    st.text("ABCxyz019._:-", min_size=120, max_size=140).map(str.encode),  # over 128
    st.sampled_from([b"../../etc/passwd", b"a b", b"id;drop", b"\xff\xfe", b"%41", b"a/b",
                     "ünï".encode(), b"{}", b"*", b"null", b"0" * 129]),
    header_values(),
)
request_id_sets: st.SearchStrategy[list[bytes]] = st.one_of(
    st.just([]), st.lists(request_id_values, min_size=1, max_size=1),
    st.lists(request_id_values, min_size=2, max_size=3),  # duplicated X-Request-Id
)
sample_bodies = st.one_of(
    mutated_samples().map(lambda s: s[1]),
    st.sampled_from([s.body for s in demo_samples()]),
    json_bodies(),
)


# --- the tests ----------------------------------------------------------------------------

@fuzz_settings(30)
@given(body=st.one_of(st.binary(max_size=2048),
                      st.binary(max_size=64).map(lambda b: b"{" + b)),
       content_types=content_type_sets, chunked=st.booleans())
def test_arbitrary_bytes_get_a_json_answer_never_a_5xx(
        stack: Stack, client: httpx.Client, ledger: Ledger, healthz: HealthProbe,
        body: bytes, content_types: list[bytes], chunked: bool) -> None:
    send(client, stack, ledger, "bytes", body, content_types, chunked=chunked)


def test_bodies_around_the_size_limit(stack: Stack, client: httpx.Client, ledger: Ledger,
                                      healthz: HealthProbe) -> None:
    """Not hypothesis: five bodies of about 1 MiB (at, over the limit; sized and chunked)."""
    limit = stack.settings.max_body_bytes
    event = orjson.dumps(dfo("MessageCreated", str(uuid.uuid4()), "chat"))
    fits = event[:-1] + b',"pad":"' + b"x" * (limit - len(event) - 9) + b'"}'
    assert len(fits) == limit
    for body, chunked in [(fits, False), (fits, True), (fits + b" ", False),
                          (fits + b" ", True), (b"x" * (limit + 1), True)]:
        send(client, stack, ledger, "size", body, [JSON.encode()], chunked=chunked)


@fuzz_settings(50)
@given(body=json_bodies(), content_types=json_content_types)
def test_arbitrary_json_gets_a_json_answer_never_a_5xx(
        stack: Stack, client: httpx.Client, ledger: Ledger, healthz: HealthProbe,
        body: bytes, content_types: list[bytes]) -> None:
    send(client, stack, ledger, "json", body, content_types)


@fuzz_settings(20)
@given(body=deep_bodies())
def test_deeply_nested_json_gets_a_json_answer_never_a_5xx(
        stack: Stack, client: httpx.Client, ledger: Ledger, healthz: HealthProbe,
        body: bytes) -> None:
    send(client, stack, ledger, "deep", body, [JSON.encode()])


@fuzz_settings(60)
@given(sample=mutated_samples())
def test_mutated_cxone_payloads_get_a_json_answer_never_a_5xx(
        stack: Stack, client: httpx.Client, ledger: Ledger, healthz: HealthProbe,
        sample: tuple[str, bytes, str]) -> None:
    kind, body, content_type = sample
    send(client, stack, ledger, f"mutated {kind}", body, [content_type.encode()])


@fuzz_settings(40)
@given(body=mapped_documents(), content_types=json_content_types)
def test_odd_values_on_the_mappings_paths_get_a_json_answer_never_a_5xx(
        stack: Stack, client: httpx.Client, ledger: Ledger, healthz: HealthProbe,
        body: bytes, content_types: list[bytes]) -> None:
    send(client, stack, ledger, "mapped", body, content_types)


@fuzz_settings(40)
@given(body=form_bodies(), content_types=form_content_types)
def test_form_bodies_get_a_json_answer_never_a_5xx(
        stack: Stack, client: httpx.Client, ledger: Ledger, healthz: HealthProbe,
        body: bytes, content_types: list[bytes]) -> None:
    send(client, stack, ledger, "form", body, content_types)


@fuzz_settings(40)
@given(body=sample_bodies, content_types=content_type_sets, request_ids=request_id_sets,
       extra=extra_headers, encoding=st.sampled_from(["none", "none", "gzip", "deflate",
                                                      "raw-deflate", "gzip, gzip", "br",
                                                      "bom", "utf-16", "latin-1"]))
def test_header_sets_and_encodings_get_a_json_answer_never_a_5xx(
        stack: Stack, client: httpx.Client, ledger: Ledger, healthz: HealthProbe,
        body: bytes, content_types: list[bytes], request_ids: list[bytes],
        extra: list[Header], encoding: str) -> None:
    # a coding of our own comes first: the edge reads the first Content-Encoding header
    extra = [h for h in extra if h[0].lower() != b"content-encoding"] \
        if encoding not in ("none", "utf-16", "latin-1") else extra
    if encoding in ("gzip", "gzip, gzip"):
        for _ in encoding.split(", "):
            body = gzip.compress(body, mtime=0)
        extra = [(b"content-encoding", encoding.encode()), *extra]
    elif encoding == "deflate":
        body, extra = zlib.compress(body), [(b"content-encoding", b"deflate"), *extra]
    elif encoding == "raw-deflate":
        raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = raw.compress(body) + raw.flush()
        extra = [(b"content-encoding", b"deflate"), *extra]
    elif encoding == "br":  # not taken: 415
        extra = [(b"content-encoding", b"br"), *extra]
    elif encoding == "bom":  # .NET's default: ignored before JSON
        body = b"\xef\xbb\xbf" + body
    elif encoding in ("utf-16", "latin-1"):  # and bodies are UTF-8, whatever the charset says
        text = body.decode("utf-8", "replace")
        body = text.encode(encoding, "replace")
        content_types = [b"application/json; charset=" + encoding.encode()]
    send(client, stack, ledger, f"headers {encoding}", body, content_types, request_ids, extra)


def _hold_half_sent(url: str, count: int) -> list[socket.socket]:
    """Open `count` raw connections, each sending its headers and a fifth of its declared body."""
    where = urlsplit(url)
    held = []
    for i in range(count):
        s = socket.create_connection((where.hostname, where.port), timeout=5)
        head = (f"POST /webhooks/cxone HTTP/1.1\r\nHost: {where.netloc}\r\n"
                f"Content-Type: application/json\r\nContent-Length: 1000\r\n"
                f"X-Request-Id: held-{i}\r\n\r\n").encode()
        s.sendall(head + b'{"eventId": "held' + b" " * 200)
        held.append(s)
    return held


def test_edge_stays_responsive_while_requests_hang_half_sent(
        stack: Stack, healthz: HealthProbe) -> None:
    held = _hold_half_sent(stack.edge_url, 20)
    try:
        time.sleep(0.5)
        status, seconds = healthz.probe()
        assert status == 200, status
        assert seconds < HEALTHZ_BOUND_SECONDS, seconds
    finally:
        for s in held:
            s.close()
    status, seconds = healthz.probe()
    assert status == 200 and seconds < HEALTHZ_BOUND_SECONDS, (status, seconds)


def _header(record: Any, name: str) -> bytes | None:
    return next((v for k, v in record.headers or () if k == name), None)


async def test_every_accepted_request_ends_on_a_channel_topic_or_in_the_dlq(
        stack: Stack, client: httpx.Client, ledger: Ledger, healthz: HealthProbe) -> None:
    # known-good traffic too, so that this test means something when run alone
    for sample in demo_samples():
        send(client, stack, ledger, f"sample {sample.label}", sample.body,
             [sample.content_type.encode()])

    healthz.halt.set()
    healthz.join(timeout=15)
    last = healthz.probe()  # after the fuzz
    answers = [*healthz.answers, last]
    slow = [a for a in answers if a[0] != 200 or a[1] >= HEALTHZ_BOUND_SECONDS]
    assert not slow, f"/healthz answers out of {len(answers)}: {slow}"
    assert all(status < 500 for status in ledger.statuses), ledger.statuses

    accepted = {a.request_id: a for a in ledger.accepted}
    assert len(accepted) == len(ledger.accepted), "two 202s share a request id"
    await wait_caught_up(stack, timeout=60)

    t = stack.topics
    channel_topics = {t.channel(c) for c in t.channels}

    def placed(records: list[Any]) -> tuple[dict[str, list[Any]], dict[str, list[Any]],
                                             set[str]]:
        outputs: dict[str, list[Any]] = {}
        raw: dict[str, list[Any]] = {}
        emitted = set()
        for r in records:
            rid = (_header(r, REQUEST_ID) or b"").decode("latin-1")
            if r.topic == t.raw:
                raw.setdefault(rid, []).append(r)
            else:
                outputs.setdefault(rid, []).append(r)
                if r.topic in channel_topics:
                    emitted.add(orjson.loads(r.value)["eventId"])
        return outputs, raw, emitted

    def accounted(records: list[Any]) -> bool:
        outputs, raw, emitted = placed(records)
        return all(rid in raw and (rid in outputs or a.event_id in emitted)
                   for rid, a in accepted.items())

    records = await read(stack, [t.raw, *channel_topics, t.dlq], accounted, timeout=30)
    outputs, raw, emitted = placed(records)

    problems = []
    for rid, a in accepted.items():
        where = outputs.get(rid, [])
        what = f"{a.label} {rid} (eventId {a.event_id}) body {a.body[:160]!r}"
        if rid not in raw:
            problems.append(f"202 but not on the raw topic: {what}")
        if len(where) > 1:
            problems.append(f"on {len(where)} outputs: {[r.topic for r in where]}: {what}")
        elif not where and a.event_id not in emitted:
            problems.append(f"lost: on no channel topic, not dead-lettered, no earlier copy "
                            f"emitted: {what}")
        for r in where:
            if r.topic == t.dlq:
                reason = (_header(r, "cxr-dlq-reason") or b"").decode()
                message = (_header(r, "cxr-dlq-error-message") or b"").decode()
                if reason not in set(Reason):
                    problems.append(f"dead letter without a known reason ({reason!r}): {what}")
                elif reason == "processing_error":  # an exception the agent did not expect
                    problems.append(f"processing_error ({message}): {what}")
                # the original bytes, or none when the DLQ refused them (a header says so)
                omitted = _header(r, "cxr-dlq-body-omitted") is not None and not r.value
                if r.value != a.body and not omitted:
                    problems.append(f"dead letter's value is not the request's bytes: {what}")
            else:
                record = orjson.loads(r.value)
                if record["eventId"] != a.event_id:
                    problems.append(f"channel record says eventId {record['eventId']}: {what}")
    for rid in ledger.refused_ids:
        if rid in raw:
            problems.append(f"refused with 4xx but published: {rid}")
    landed = [outputs.get(rid, [None])[0] for rid in accepted]
    summary = (f"{len(accepted)} accepted: "
               f"{sum(1 for r in landed if r is not None and r.topic in channel_topics)} on a "
               f"channel, {sum(1 for r in landed if r is not None and r.topic == t.dlq)} "
               f"dead-lettered, {landed.count(None)} deduplicated; "
               f"{len(ledger.refused_ids)} refused with our own id; "
               f"answers {sorted(ledger.statuses.items())}")
    print(summary)
    assert not problems, summary + "\n" + "\n".join(problems[:40])
