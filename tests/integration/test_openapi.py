"""The running edge against its own `GET /openapi.json`: each answer's status is declared
for the path, its body valid against the declared schema, its required headers present.
One edge (no worker) with bearer authentication and an admin port; embedded broker only."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from cxone_router.edge import WEBHOOK_PATH
from cxone_router.kafka.embedded import free_port
from cxone_router.samples import brief
from cxone_router.stack import Stack
from tests.integration.harness import Broker, make_stack
from tests.openapi_check import check_answer, structure_problems

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("broker", ["embedded"], indirect=True),  # the edge, not the broker
]
TOKEN = "openapi-token"
MAX_BODY = 4096
MAX_HEADER = 4096


@pytest.fixture(scope="module")
def edge(broker: Broker) -> Iterator[Stack]:
    stack = make_stack(broker, CXR_EDGE_AUTH="bearer", CXR_EDGE_BEARER_TOKENS=TOKEN,
                       CXR_MAX_BODY_BYTES=str(MAX_BODY),
                       CXR_EDGE_MAX_HEADER_BYTES=str(MAX_HEADER),
                       CXR_EDGE_ADMIN_PORT=str(free_port()))
    try:
        stack.ensure_topics()
        stack.start_edge()
        _wait_alive(stack)
        yield stack
    finally:
        stack.stop_all()


def _wait_alive(stack: Stack, timeout: float = 60) -> None:
    """/healthz, not /readyz, which turns ready at the edge's second readiness check, 5 s
    after start-up. Until its producer has connected the edge answers 503, as declared:
    the test retries then, as a sender would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{stack.edge_url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{stack.edge_url}/healthz did not answer within {timeout:.0f} s")


async def test_the_edge_answers_as_its_openapi_document_says(edge: Stack) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        served = await client.get(f"{edge.edge_admin_url}/openapi.json")
        doc: dict[str, Any] = served.json()
        assert structure_problems(doc) == []
        check_answer(doc, "GET", "/openapi.json", served)
        # on the admin port only, with the webhook and /healthz left on the webhook port
        assert (await client.get(f"{edge.edge_url}/openapi.json")).status_code == 404
        assert doc["paths"][WEBHOOK_PATH]["post"]["security"] == [{"bearerAuth": []}]

        url = f"{edge.edge_url}{WEBHOOK_PATH}"
        auth = {"authorization": f"Bearer {TOKEN}"}
        as_json = {**auth, "content-type": "application/json"}
        event = orjson.dumps(brief("interaction.created", "openapi-1", "chat"))
        asked = {  # status -> (body, headers)
            "202": (event, {**as_json, "x-request-id": "r-1"}),
            "400": (b"{not json", as_json),
            "401": (event, {"content-type": "application/json"}),
            "413": (b"{" + b" " * MAX_BODY + b"}", as_json),
            "415": (event, {**auth, "content-type": "text/xml"}),
            "431": (event, {**as_json, "x-padding": "p" * MAX_HEADER}),
        }
        answers = {}
        for expected, (body, headers) in asked.items():
            answer = await client.post(url, content=body, headers=headers)
            deadline = time.monotonic() + 30
            while answer.status_code == 503 and time.monotonic() < deadline:  # connecting
                assert check_answer(doc, "POST", WEBHOOK_PATH, answer)["x-retry"] is True
                await asyncio.sleep(0.1)
                answer = await client.post(url, content=body, headers=headers)
            answers[expected] = answer
            assert str(answer.status_code) == expected, answer.text
            response = check_answer(doc, "POST", WEBHOOK_PATH, answer)
            assert response["x-retry"] is False
        assert answers["202"].headers["x-request-id"] == "r-1"
        assert answers["401"].headers["www-authenticate"].startswith("Bearer ")

        for path in ("/healthz", "/readyz", "/metrics"):
            check_answer(doc, "GET", path, await client.get(f"{edge.edge_admin_url}{path}"))
