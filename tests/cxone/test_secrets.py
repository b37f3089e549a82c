"""No secret and no token reaches a log line, an error message or a repr."""

from __future__ import annotations

import base64
import logging
import secrets

import pytest

from cxone_router.cxone.client import CxoneClient
from cxone_router.cxone.errors import AuthError
from cxone_router.cxone.fake.serve import FakeCxoneServer
from cxone_router.cxone.fake.server import build_app
from cxone_router.cxone.fake.state import FakeCredentials, FakeState
from cxone_router.logs import JsonFormatter
from tests.cxone.helpers import FakeCxone, fast_settings


async def test_a_full_flow_logs_no_secret_and_no_token(caplog: pytest.LogCaptureFixture) -> None:
    credentials = FakeCredentials(
        client_id="client-" + secrets.token_hex(4),
        client_secret="client-secret-" + secrets.token_hex(16),
        access_key_id="key-" + secrets.token_hex(4),
        access_key_secret="key-secret-" + secrets.token_hex(16),
    )
    caplog.set_level(logging.DEBUG)
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.access", "uvicorn.error"):
        caplog.set_level(logging.DEBUG, logger=noisy)
    seen: list[str] = []

    with FakeCxoneServer(build_app(FakeState(credentials=credentials))) as base_url:
        fake = FakeCxone(base_url)
        for grant in ("password", "client_credentials"):
            settings = fast_settings(
                base_url,
                grant=grant,
                discover_token_endpoint=True,
                client_id=credentials.client_id,
                client_secret=credentials.client_secret,
                access_key_id=credentials.access_key_id,
                access_key_secret=credentials.access_key_secret,
            )
            seen += [repr(settings), str(settings)]
            async with CxoneClient(settings) as cxone:
                registration = await cxone.register_webhook("https://edge.example.com/hook")
                await cxone.register_webhook("https://edge.example.com/hook")  # 409
                fake.faults(expire_tokens=True)  # 401, renewal
                await cxone.list_webhooks()
                fake.faults(rate_limit={"count": 1, "retry_after": "0"}, fail={"count": 1})
                await cxone.list_webhooks()
                await cxone.delete_webhook(registration.id)
                seen.append(repr(cxone))
        wrong = fast_settings(base_url, client_id=credentials.client_id, client_secret="wrong")
        async with CxoneClient(wrong) as cxone:
            with pytest.raises(AuthError) as caught:
                await cxone.list_webhooks()
            seen += [str(caught.value), caught.value.hint]
        issued = fake.issued_tokens()
        fake.control.close()

    formatter = JsonFormatter()
    for record in caplog.records:
        seen += [record.getMessage(), formatter.format(record)]
    text = "\n".join(seen)

    assert len(issued) >= 4
    assert "HTTP Request: POST" in text and "send_request_headers" in text  # capture works
    basic = base64.b64encode(
        f"{credentials.client_id}:{credentials.client_secret}".encode()
    ).decode()
    for secret in (credentials.client_secret, credentials.access_key_secret, basic, *issued):
        assert secret not in text
    assert "authorization" not in text.lower()  # no request header dump at all
