"""The fake CXone itself: it must refuse what a real tenant refuses, or tests prove nothing."""

from __future__ import annotations

import httpx

from tests.cxone.helpers import FakeCxone

DEMO = ("fake-client", "fake-client-secret")


def token(fake: FakeCxone, **form: str) -> httpx.Response:
    return httpx.post(f"{fake.base_url}/auth/token", data=form, auth=DEMO)


def test_token_endpoint_checks_client_grant_and_access_key(fake: FakeCxone) -> None:
    wrong_client = httpx.post(
        f"{fake.base_url}/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("fake-client", "nope"),
    )
    assert (wrong_client.status_code, wrong_client.json()["error"]) == (401, "invalid_client")
    wrong_key = token(fake, grant_type="password", username="fake-access-key", password="x")
    assert (wrong_key.status_code, wrong_key.json()["error"]) == (400, "invalid_grant")
    other_grant = token(fake, grant_type="implicit")
    assert other_grant.json()["error"] == "unsupported_grant_type"
    issued = token(
        fake, grant_type="password", username="fake-access-key", password="fake-access-key-secret"
    ).json()
    assert issued["token_type"] == "Bearer" and issued["expires_in"] == 300


def test_api_calls_need_a_valid_unexpired_token(fake: FakeCxone) -> None:
    url = f"{fake.base_url}/webhooks"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer made-up"}).status_code == 401
    fake.faults(token_ttl=0.001)
    short = token(fake, grant_type="client_credentials").json()["access_token"]
    assert httpx.get(url, headers={"Authorization": f"Bearer {short}"}).status_code == 401


def test_webhooks_are_validated_and_a_duplicate_url_is_a_409(fake: FakeCxone) -> None:
    bearer = token(fake, grant_type="client_credentials").json()["access_token"]
    api = httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {bearer}"})
    hook = {"name": "n", "url": "https://e.example/h", "events": ["interaction.created"]}
    assert api.post("/webhooks", json={**hook, "events": ["call.made"]}).status_code == 400
    assert api.post("/webhooks", json={**hook, "url": "ftp://x"}).status_code == 400
    created = api.post("/webhooks", json=hook)
    assert created.status_code == 201
    assert api.post("/webhooks", json=hook).status_code == 409
    assert api.get(f"/webhooks/{created.json()['id']}").json()["url"] == hook["url"]
    assert api.delete(f"/webhooks/{created.json()['id']}").status_code == 204
    api.close()
