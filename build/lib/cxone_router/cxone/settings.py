"""CXone connection settings, read once from `CXR_CXONE_*` environment variables."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cxone_router.errors import ConfigurationError
from cxone_router.settings import configuration_error, is_loopback

ENV_PREFIX = "CXR_CXONE_"

GrantType = Literal["auto", "client_credentials", "password"]


def _env(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


class CxoneSettings(BaseSettings):
    """Where the tenant is, how to get a token, and how hard to push its API."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, env_ignore_empty=True
    )

    # Where
    instance: str | None = Field(
        None, description="issuer URL, e.g. https://cxone.niceincontact.com; never hard-coded"
    )
    api_base: str | None = Field(None, description="API host when it differs from the issuer")
    allow_insecure_http: bool = Field(False, description="allow http:// to non-loopback hosts")

    # Who
    client_id: str | None = None
    client_secret: SecretStr | None = None
    access_key_id: str | None = None
    access_key_secret: SecretStr | None = None
    grant: GrantType = Field(
        "auto",
        description="auto = password grant when an access key is set, else client_credentials",
    )
    token_path: str = "/auth/token"
    discover_token_endpoint: bool = Field(
        False, description="read token_endpoint from {instance}/.well-known/openid-configuration"
    )
    token_scope: str | None = Field(None, description="optional `scope` of the token request")
    token_refresh_margin_seconds: float = Field(60.0, ge=0, le=3600)

    # What
    webhooks_path: str = "/webhooks"
    webhook_name: str = "cxone-router"
    webhook_scope: str = "interactions:read"

    # How hard
    connect_timeout_seconds: float = Field(5.0, gt=0, le=120)
    request_timeout_seconds: float = Field(15.0, gt=0, le=300)
    max_connections: int = Field(20, ge=1, le=1000)
    rate_per_second: float = Field(5.0, gt=0, le=10_000)
    burst: int = Field(10, ge=1, le=100_000)
    max_retries: int = Field(4, ge=0, le=20)
    backoff_base_seconds: float = Field(0.5, gt=0, le=60)
    backoff_cap_seconds: float = Field(30.0, gt=0, le=600)
    max_retry_after_seconds: float = Field(120.0, ge=0, le=3600)

    @field_validator("instance", "api_base")
    @classmethod
    def _is_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("use an http(s) URL such as https://cxone.niceincontact.com")
        return value

    @field_validator("token_path", "webhooks_path")
    @classmethod
    def _is_absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("use a path starting with '/'")
        return value

    @model_validator(mode="after")
    def _no_secrets_over_plain_http(self) -> CxoneSettings:
        for name in ("instance", "api_base"):
            url = getattr(self, name)
            if url is None or self.allow_insecure_http:
                continue
            parts = urlsplit(url)
            if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
                raise ValueError(
                    f"{_env(name)} uses plain http to a non-loopback host; use https "
                    f"(or set {_env('allow_insecure_http')}=true for a test tenant)"
                )
        return self

    @property
    def api_url(self) -> str:
        """Base of the REST API: `api_base`, else the issuer."""
        base = self.api_base or self.instance
        if base is None:
            raise ConfigurationError(
                f"{_env('instance')} is not set: set it to your tenant's issuer URL, "
                "e.g. https://cxone.niceincontact.com"
            )
        return base

    @property
    def issuer(self) -> str:
        if self.instance is None:
            raise ConfigurationError(
                f"{_env('instance')} is not set: set it to your tenant's issuer URL, "
                "e.g. https://cxone.niceincontact.com"
            )
        return self.instance

    @property
    def effective_grant(self) -> Literal["client_credentials", "password"]:
        if self.grant != "auto":
            return self.grant
        has_key = self.access_key_id is not None or self.access_key_secret is not None
        return "password" if has_key else "client_credentials"

    def check_credentials(self) -> None:
        """Fail before the first request, naming every variable that is missing."""
        self.issuer  # noqa: B018 - raises when unset
        missing = [
            _env(name) for name in ("client_id", "client_secret") if getattr(self, name) is None
        ]
        if self.effective_grant == "password":
            missing += [
                _env(name)
                for name in ("access_key_id", "access_key_secret")
                if getattr(self, name) is None
            ]
        if missing:
            raise ConfigurationError(
                f"the {self.effective_grant} grant needs " + ", ".join(missing) + " (not set)"
            )

    @classmethod
    def for_fake(cls, base_url: str, *, grant: GrantType = "client_credentials") -> CxoneSettings:
        """Settings for the fake CXone at `base_url`, with its demo credentials.

        Where, who and which paths are fixed; the remaining knobs (rate, retries, timeouts)
        still come from `CXR_CXONE_*` variables or their defaults.
        """
        from cxone_router.cxone.fake.state import FAKE_CREDENTIALS as fake

        return load_cxone_settings(
            instance=base_url,
            api_base=None,
            client_id=fake.client_id,
            client_secret=SecretStr(fake.client_secret),
            access_key_id=fake.access_key_id,
            access_key_secret=SecretStr(fake.access_key_secret),
            grant=grant,
            discover_token_endpoint=False,
            token_path="/auth/token",
            webhooks_path="/webhooks",
        )


def load_cxone_settings(**overrides: object) -> CxoneSettings:
    """Read the environment; a bad value raises ConfigurationError naming the variable."""
    try:
        return CxoneSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise configuration_error(exc, ENV_PREFIX, "CXone settings") from None
