"""The edge's OpenAPI 3.1 description, `GET /openapi.json`: built once at start-up from the
settings, so it states this edge's limits and the authentication it requires.

It describes every answer of the README's edge contract. Answers that cannot happen with
the settings are left out: 401 without authentication, 429 without a rate limit. The
schemas use only what JSON Schema draft 7 and 2020-12 share, so any validator reads them.
"""

from __future__ import annotations

from typing import Any

import orjson

from cxone_router.edge import WEBHOOK_PATH
from cxone_router.metrics import package_version
from cxone_router.samples import brief, dfo, studio_voice
from cxone_router.settings import Settings

OPENAPI_PATH = "/openapi.json"
REQUEST_ID_PATTERN = "^[A-Za-z0-9._:-]{1,128}$"  # the edge's own check (app.py)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
EXAMPLE_TIME = "2026-01-01T10:00:00.000Z"
SECURITY_SCHEMES = {"hmac": ("hmacSignature", "hmacTimestamp"), "bearer": ("bearerAuth",),
                    "basic": ("basicAuth",)}

_SCHEMAS: dict[str, Any] = {
    "Accepted": {
        "type": "object",
        "description": "The event is stored: its raw bytes are in the raw topic (acks=all).",
        "required": ["status", "eventId"],
        "additionalProperties": False,
        "properties": {
            "status": {"const": "accepted", "description": "Always \"accepted\"."},
            "eventId": {"type": "string", "minLength": 1,
                        "description": "The payload's eventId, else an id derived from its "
                                       "content (\"h-\" and 32 hex digits); the normalized "
                                       "record carries the same eventId."},
        },
    },
    "Rejected": {
        "type": "object",
        "description": "The event was not accepted; `error` says why, in words.",
        "required": ["status", "error"],
        "additionalProperties": False,
        "properties": {
            "status": {"const": "rejected", "description": "Always \"rejected\"."},
            "error": {"type": "string", "description": "Why, for people; not a stable code."},
        },
    },
    "InternalError": {
        "type": "object",
        "description": "An unexpected error in the edge.",
        "required": ["status", "error"],
        "additionalProperties": False,
        "properties": {
            "status": {"const": "error", "description": "Always \"error\"."},
            "error": {"type": "string", "description": "Always \"internal error\"."},
        },
    },
    "Webhook": {
        "type": "object",
        "description": "Any JSON object: the brief's interaction webhook, a Digital First "
                       "Omnichannel event, or a Studio REST action's fields. The mappings "
                       "(schemas/mappings) tell the channel and fields later; the edge "
                       "stores the raw bytes unchanged.",
    },
    "FormFields": {
        "type": "object",
        "description": "Form fields, each a string (a name sent twice becomes a list). A body "
                       "that starts with `{` is read as JSON whatever the content type.",
        "minProperties": 1,
        "additionalProperties": {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "ok", "description": "The process is alive."}},
    },
    "Readiness": {
        "type": "object",
        "required": ["status", "detail"],
        "properties": {
            "status": {"enum": ["ready", "not ready"],
                       "description": "The last background check's answer (every 5 s)."},
            "detail": {"type": "string",
                       "description": "Why not, in general terms; the broker's error is in "
                                      "the log."},
        },
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _header(description: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


def _answer(description: str, retry: bool, schema: str = "Rejected",
            headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": f"{description} Retry: {'yes' if retry else 'no'}.",
        "content": {JSON: {"schema": _ref(schema)}},
        "x-retry": retry,
    }
    if headers:
        response["headers"] = headers
    return response


def _security_schemes(s: Settings) -> dict[str, Any]:
    template = s.edge_hmac_template
    schemes: dict[str, Any] = {
        "hmacSignature": {
            "type": "apiKey", "in": "header", "name": s.edge_hmac_signature_header,
            "description": (
                f"CXR_EDGE_AUTH=hmac: `sha256=<hex>` (or the bare hex digest), the HMAC-SHA256 "
                f"with one of CXR_EDGE_HMAC_SECRETS of `{template}` where {{body}} is the raw "
                f"request body byte for byte"
                + (f" and {{timestamp}} the {s.edge_hmac_timestamp_header} header's value"
                   if "{timestamp}" in template else "")
                + ". Checked over the raw body before it is parsed."),
        },
        "hmacTimestamp": {
            "type": "apiKey", "in": "header", "name": s.edge_hmac_timestamp_header,
            "description": (
                "CXR_EDGE_AUTH=hmac: when the request was signed, in seconds or milliseconds "
                f"since the epoch; refused when more than {s.edge_hmac_tolerance_seconds} s "
                "from the edge's clock, before the body is read."),
        },
        "bearerAuth": {"type": "http", "scheme": "bearer",
                       "description": "CXR_EDGE_AUTH=bearer: `Authorization: Bearer <token>`, "
                                      "one of CXR_EDGE_BEARER_TOKENS."},
        "basicAuth": {"type": "http", "scheme": "basic",
                      "description": "CXR_EDGE_AUTH=basic: `Authorization: Basic "
                                     "base64(user:password)`, a pair of CXR_EDGE_BASIC_USERS."},
    }
    if "{timestamp}" not in template:  # no replay window: the edge does not read it
        del schemes["hmacTimestamp"]
    return schemes


def _webhook_responses(s: Settings) -> dict[str, Any]:
    retry_after = _header("Seconds to wait before sending the same body again.",
                          {"type": "integer", "minimum": 1})
    responses: dict[str, Any] = {
        "202": {
            "description": "Accepted: the raw bytes are in the raw topic, acknowledged by the "
                           "broker (acks=all). Retry: no.",
            "headers": {"X-Request-Id": _header(
                "The request's X-Request-Id when valid, else one the edge generated; also "
                "the raw record's `cxr-request-id` header.",
                {"type": "string", "pattern": REQUEST_ID_PATTERN})},
            "content": {JSON: {"schema": _ref("Accepted")}},
            "x-retry": False,
        },
        "400": _answer(
            "Invalid JSON, a JSON value that is not an object, nesting beyond the parser's "
            f"limit, an empty or unreadable form, or more than {s.max_form_fields} form "
            "fields (CXR_MAX_FORM_FIELDS).", retry=False),
        "401": _answer(
            "Authentication is on and the credentials are missing, wrong or given twice (two "
            "Authorization, signature or timestamp headers), or the timestamp is outside the "
            "window.", retry=False,
            headers={"WWW-Authenticate": _header(
                "The scheme the edge expects, e.g. `HMAC-SHA256 realm=\"cxone-router\"`.",
                {"type": "string"})}),
        "408": _answer(
            f"The request line and headers did not arrive within "
            f"{s.edge_header_timeout_seconds:g} s (CXR_EDGE_HEADER_TIMEOUT_SECONDS), or the "
            f"body within {s.edge_body_timeout_seconds:g} s after them "
            "(CXR_EDGE_BODY_TIMEOUT_SECONDS), e.g. shorter than its Content-Length; the "
            "connection is closed.", retry=True),
        "413": _answer(
            f"The body is over {s.max_body_bytes} bytes (CXR_MAX_BODY_BYTES), as sent or once "
            "decoded (Content-Encoding); or the broker "
            "refused the record for good (\"refused for good\"): sent again, it is refused "
            "again.", retry=False),
        "415": _answer(f"A content type other than {JSON} (or application/*+json) and "
                       f"{FORM}; or a Content-Encoding other than gzip, deflate and "
                       "identity.", retry=False,
                       headers={"Accept-Encoding": _header(
                           "The content codings the edge takes (RFC 7694).",
                           {"type": "string", "example": "gzip, deflate"})}),
        "429": _answer(
            f"Over {s.edge_rate_limit:g} webhooks/s (CXR_EDGE_RATE_LIMIT); with "
            "authentication on, only requests that pass it count.", retry=True,
            headers={"Retry-After": retry_after}),
        "431": _answer(
            f"The request line and headers are over {s.edge_max_header_bytes} bytes "
            "(CXR_EDGE_MAX_HEADER_BYTES), answered before the rest is read; the connection "
            "is closed.", retry=False),
        "500": _answer("An unexpected error in the edge; the event may or may not be stored, "
                       "and a second copy is dropped by deduplication.", retry=True,
                       schema="InternalError"),
        "503": {
            "description": (
                f"The broker did not acknowledge within {s.publish_timeout_seconds:g} s "
                "(CXR_PUBLISH_TIMEOUT_SECONDS), JSON with Retry-After: the event may still "
                "have been stored, and deduplication drops a second copy. Or more than "
                f"{s.edge_max_connections} connections are open (CXR_EDGE_MAX_CONNECTIONS): "
                "uvicorn's plain-text answer, without Retry-After. Retry: yes."),
            "headers": {"Retry-After": {**retry_after, "required": False}},
            "content": {JSON: {"schema": _ref("Rejected")},
                        "text/plain": {"schema": {"type": "string"}}},
            "x-retry": True,
        },
    }
    if s.edge_auth == "none":
        del responses["401"]
    if not s.edge_rate_limit:
        del responses["429"]
    return responses


def _examples() -> dict[str, Any]:
    """The three shapes, from the demo's samples, with fixed ids and times: every edge
    serves the same document."""
    shape = brief("interaction.created", "int-1001", "voice")
    shape["timestamp"] = EXAMPLE_TIME
    event = dfo("MessageCreated", "10a73eb1-5d3c-448c-8e0a-8131b7a6b1a4", "chat")
    event.update(eventId="ca606da7-6c92-4bc7-b8f5-b0b56a12a005", createdAt=EXAMPLE_TIME,
                 createdAtWithMilliseconds=EXAMPLE_TIME)
    event["data"]["case"]["contactId"] = "e3f2d83e-adb5-414e-a772-13981e75cfd9"
    studio, upper = (studio_voice("5551234", "Disconnected", uppercase=u) for u in (False, True))
    for fields in (studio, upper):
        fields["startTimeUtc"] = EXAMPLE_TIME
    return {
        JSON: {
            "brief": {"summary": "The brief's interaction webhook", "value": shape},
            "dfo": {"summary": "A Digital First Omnichannel event", "value": event},
        },
        FORM: {
            "studio": {"summary": "A Studio REST action's fields", "value": studio},
            "studioSystemVariables": {
                "summary": "The same with CXone's uppercase system variables", "value": upper},
        },
    }


def _webhook(s: Settings) -> dict[str, Any]:
    examples = _examples()
    operation: dict[str, Any] = {
        "operationId": "receiveWebhook",
        "summary": "Accept one CXone webhook",
        "description": (
            "Answers 202 only once the broker holds the raw bytes. Checked in this order: "
            "rate limit (without authentication), content type, credentials and a "
            "signature's form and timestamp (before the body is read), body size, an HMAC "
            "signature over the raw body, rate limit (with authentication), parsing, the "
            "broker's acknowledgement. `x-retry` on each answer says whether to send the "
            "same body again (after Retry-After when there is one)."),
        "parameters": [{
            "name": "X-Request-Id", "in": "header", "required": False,
            "description": "Echoed in the 202's X-Request-Id and stored with the event; an "
                           "invalid one is replaced by a generated id.",
            "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
        }],
        "requestBody": {
            "required": True,
            "description": (
                f"At most {s.max_body_bytes} bytes (CXR_MAX_BODY_BYTES). Without a "
                "Content-Type the body is read as JSON."),
            "content": {
                JSON: {"schema": _ref("Webhook"), "examples": examples[JSON]},
                FORM: {"schema": _ref("FormFields"), "examples": examples[FORM]},
            },
        },
        "responses": _webhook_responses(s),
    }
    names = SECURITY_SCHEMES.get(s.edge_auth, ())
    if s.edge_auth == "hmac" and "{timestamp}" not in s.edge_hmac_template:
        names = names[:1]
    operation["security"] = [dict.fromkeys(names, [])] if names else []
    return {"post": operation}


def _get(operation_id: str, summary: str, responses: dict[str, Any],
         description: str = "") -> dict[str, Any]:
    operation = {"operationId": operation_id, "summary": summary, "security": [],
                 "responses": responses}
    if description:
        operation["description"] = description
    return {"get": operation}


def build_document(settings: Settings) -> dict[str, Any]:
    """The document for an edge running with `settings`."""
    s = settings
    admin = ("" if s.edge_admin_port is None else
             f"Served on the admin port ({s.edge_admin_port}, CXR_EDGE_ADMIN_PORT), not on "
             "the webhook port.")
    mode = {"none": "none: anyone may post (the edge listens on loopback, or "
                    "CXR_EDGE_ALLOW_UNAUTHENTICATED allows it)",
            "hmac": "hmac: an HMAC-SHA256 signature over the raw body",
            "bearer": "bearer: a Bearer token", "basic": "basic: Basic credentials"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cxone-router edge",
            "version": package_version(),
            "summary": "NICE CXone webhooks in, per-channel Kafka streams out.",
            "description": (
                f"Authentication (CXR_EDGE_AUTH): {mode[s.edge_auth]}. Every answer of the "
                "webhook is JSON (`{\"status\":\"accepted\",\"eventId\":...}` or "
                "`{\"status\":\"rejected\",\"error\":...}`) except uvicorn's plain-text 503 at "
                "the connection cap. A sender's guide is in docs/senders.md."),
        },
        "paths": {
            WEBHOOK_PATH: _webhook(s),
            "/healthz": _get("healthz", "The process is alive", {
                "200": {"description": "Alive.", "content": {JSON: {"schema": _ref("Health")}}},
            }),
            "/readyz": _get("readyz", "The broker answered and the raw topic existed at the "
                                      "last check", {
                "200": {"description": "Ready.",
                        "content": {JSON: {"schema": _ref("Readiness")}}},
                "503": {"description": "Not ready.",
                        "content": {JSON: {"schema": _ref("Readiness")}}},
            }, admin),
            "/metrics": _get("metrics", "Prometheus metrics of this process", {
                "200": {"description": "Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}}},
            }, admin),
            OPENAPI_PATH: _get("openapi", "This document", {
                "200": {"description": "OpenAPI 3.1.",
                        "content": {JSON: {"schema": {"type": "object"}}}},
            }, admin),
        },
        "components": {"schemas": _SCHEMAS, "securitySchemes": _security_schemes(s)},
    }


def document_bytes(settings: Settings) -> bytes:
    return orjson.dumps(build_document(settings))
