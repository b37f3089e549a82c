"""The edge's OpenAPI document: a valid 3.1 document for every authentication mode, with
the answers, limits and schemes the settings give, and examples the mappings normalize."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import fastjsonschema
import orjson
import pytest

from cxone_router.edge import WEBHOOK_PATH
from cxone_router.edge.metrics import WEBHOOK_STATUSES
from cxone_router.edge.openapi import build_document, document_bytes
from cxone_router.mapping import Normalizer
from cxone_router.payload import decode
from cxone_router.settings import Settings
from tests.openapi_check import schema_validator, structure_problems

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CREDENTIALS = {"edge_hmac_secrets": "s", "edge_bearer_tokens": "t", "edge_basic_users": "u:p"}


def settings(**overrides: object) -> Settings:
    return Settings(**{**CREDENTIALS, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize("mode,security", [
    ("none", []),
    ("hmac", [{"hmacSignature": [], "hmacTimestamp": []}]),
    ("bearer", [{"bearerAuth": []}]),
    ("basic", [{"basicAuth": []}]),
])
def test_a_valid_document_requiring_the_configured_scheme(mode: str, security: list) -> None:
    doc = build_document(settings(edge_auth=mode))
    assert structure_problems(doc) == []
    webhook = doc["paths"][WEBHOOK_PATH]["post"]
    assert webhook["security"] == security
    assert set(doc["paths"]) == {WEBHOOK_PATH, "/healthz", "/readyz", "/metrics",
                                 "/openapi.json"}
    answers = set(webhook["responses"])
    contract = {"202", "400", "401", "408", "413", "415", "429", "431", "503"}
    assert answers == (contract if mode != "none" else contract - {"401"}) | {"500"}
    assert answers <= set(WEBHOOK_STATUSES)  # and each is counted from the first scrape
    assert set(webhook["requestBody"]["content"]) == {"application/json",
                                                      "application/x-www-form-urlencoded"}
    for status, response in webhook["responses"].items():
        assert isinstance(response["x-retry"], bool), status
    retried = {s for s, r in webhook["responses"].items() if r["x-retry"]}
    assert retried == {"408", "429", "500", "503"}


def test_the_structure_check_finds_what_is_wrong() -> None:
    doc = build_document(settings(edge_auth="bearer"))
    doc["openapi"] = "3.0.3"
    del doc["paths"]["/healthz"]["get"]["responses"]["200"]["description"]
    doc["paths"][WEBHOOK_PATH]["post"]["security"] = [{"apiKey": []}]
    doc["paths"]["/readyz"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"] = {"$ref": "#/components/schemas/Nope"}
    problems = structure_problems(doc)
    assert len(problems) == 4, problems


def test_limits_headers_and_modes_come_from_the_settings() -> None:
    doc = build_document(settings(
        edge_auth="hmac", edge_hmac_signature_header="X-Cxone-Signature",
        edge_hmac_timestamp_header="X-Cxone-Time", max_body_bytes=4096, edge_rate_limit=0,
        edge_admin_port=9200))
    schemes = doc["components"]["securitySchemes"]
    assert (schemes["hmacSignature"]["name"], schemes["hmacTimestamp"]["name"]) == (
        "X-Cxone-Signature", "X-Cxone-Time")
    webhook = doc["paths"][WEBHOOK_PATH]["post"]
    assert "4096 bytes" in webhook["requestBody"]["description"]
    assert "4096 bytes" in webhook["responses"]["413"]["description"]
    assert "429" not in webhook["responses"]  # no rate limit, no 429
    assert "admin port (9200" in doc["paths"]["/metrics"]["get"]["description"]
    assert webhook["responses"]["401"]["headers"]["WWW-Authenticate"]["required"]
    # a template without {timestamp}: the edge reads no timestamp, the document asks none
    replay = build_document(settings(edge_auth="hmac", edge_hmac_template="{body}",
                                     edge_hmac_allow_replay=True))
    assert replay["paths"][WEBHOOK_PATH]["post"]["security"] == [{"hmacSignature": []}]
    assert "hmacTimestamp" not in replay["components"]["securitySchemes"]


def test_built_once_the_same_for_every_edge_and_free_of_secrets() -> None:
    configured = settings(edge_auth="bearer", edge_bearer_tokens="very-secret-token")
    body = document_bytes(configured)
    assert body == document_bytes(configured)  # no time or random id in it
    assert b"very-secret-token" not in body


def test_the_examples_are_valid_and_normalized_to_a_channel() -> None:
    doc = build_document(settings())
    normalizer = Normalizer.from_dir(SCHEMAS)
    content = doc["paths"][WEBHOOK_PATH]["post"]["requestBody"]["content"]
    channels = []
    for media, spec in content.items():
        check = schema_validator(doc, spec["schema"])
        for example in spec["examples"].values():
            check(example["value"])
            body = (orjson.dumps(example["value"]) if media == "application/json"
                    else urlencode(example["value"]).encode())
            record = normalizer.normalize(decode(body, media), 0)
            channels.append(record["channel"])
    assert channels == ["voice", "chat", "voice", "voice"]


def test_answer_schemas_accept_the_edges_bodies_and_refuse_others() -> None:
    doc = build_document(settings())
    accepted = schema_validator(doc, {"$ref": "#/components/schemas/Accepted"})
    rejected = schema_validator(doc, {"$ref": "#/components/schemas/Rejected"})
    accepted({"status": "accepted", "eventId": "h-1"})
    rejected({"status": "rejected", "error": "invalid JSON"})
    for validate, wrong in ((accepted, {"status": "rejected", "eventId": "x"}),
                            (accepted, {"status": "accepted"}),
                            (rejected, {"status": "rejected"})):
        with pytest.raises(fastjsonschema.JsonSchemaValueException):
            validate(wrong)
