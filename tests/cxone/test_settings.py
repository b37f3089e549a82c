"""Settings: CXR_CXONE_* only, bad values name the variable, secrets never shown."""

from __future__ import annotations

import pytest

from cxone_router.cxone.settings import CxoneSettings, load_cxone_settings
from cxone_router.errors import ConfigurationError


def test_reads_cxr_cxone_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXR_CXONE_INSTANCE", "https://cxone.example.com/")
    monkeypatch.setenv("CXR_CXONE_CLIENT_ID", "app")
    monkeypatch.setenv("CXR_CXONE_CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("CXR_CXONE_WEBHOOKS_PATH", "/incontactapi/services/v1/webhooks")
    monkeypatch.setenv("CXONE_CLIENT_ID", "unprefixed-is-ignored")
    settings = load_cxone_settings()
    assert settings.instance == "https://cxone.example.com"
    assert settings.client_id == "app"
    assert settings.webhooks_path == "/incontactapi/services/v1/webhooks"
    assert settings.effective_grant == "client_credentials"


def test_an_access_key_selects_the_password_grant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXR_CXONE_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("CXR_CXONE_ACCESS_KEY_SECRET", "key-secret")
    assert load_cxone_settings().effective_grant == "password"
    monkeypatch.setenv("CXR_CXONE_GRANT", "client_credentials")
    assert load_cxone_settings().effective_grant == "client_credentials"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CXR_CXONE_INSTANCE", "cxone.niceincontact.com"),
        ("CXR_CXONE_RATE_PER_SECOND", "fast"),
        ("CXR_CXONE_BURST", "0"),
        ("CXR_CXONE_GRANT", "implicit"),
        ("CXR_CXONE_WEBHOOKS_PATH", "webhooks"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        load_cxone_settings()


def test_plain_http_is_refused_except_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXR_CXONE_INSTANCE", "http://cxone.example.com")
    with pytest.raises(ConfigurationError, match="CXR_CXONE_ALLOW_INSECURE_HTTP"):
        load_cxone_settings()
    assert load_cxone_settings(instance="http://127.0.0.1:9").instance == "http://127.0.0.1:9"
    monkeypatch.setenv("CXR_CXONE_ALLOW_INSECURE_HTTP", "true")
    assert load_cxone_settings().instance == "http://cxone.example.com"


def test_missing_credentials_name_every_missing_variable() -> None:
    with pytest.raises(ConfigurationError, match="CXR_CXONE_INSTANCE"):
        load_cxone_settings().check_credentials()
    settings = load_cxone_settings(instance="https://cxone.example.com", grant="password")
    with pytest.raises(ConfigurationError) as caught:
        settings.check_credentials()
    for variable in ("CLIENT_ID", "CLIENT_SECRET", "ACCESS_KEY_ID", "ACCESS_KEY_SECRET"):
        assert f"CXR_CXONE_{variable}" in str(caught.value)


def test_secrets_stay_out_of_repr_and_str() -> None:
    settings = load_cxone_settings(
        instance="https://cxone.example.com",
        client_id="app",
        client_secret="client-secret-value",
        access_key_id="key",
        access_key_secret="access-key-secret-value",
    )
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert "client-secret-value" not in text
        assert "access-key-secret-value" not in text


def test_for_fake_points_at_the_fake_with_demo_credentials() -> None:
    settings = CxoneSettings.for_fake("http://127.0.0.1:8123")
    settings.check_credentials()
    assert settings.api_url == "http://127.0.0.1:8123"
    assert settings.client_id == "fake-client"
    assert CxoneSettings.for_fake("http://127.0.0.1:1", grant="password").effective_grant == (
        "password"
    )
