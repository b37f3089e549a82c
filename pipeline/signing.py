"""The headers a request needs to pass the edge's authentication, for our own senders.

`cxone-router sign`, the demo, the simulator and the benchmark's load generator post to an
edge that may have `CXR_EDGE_AUTH` on; they sign with the same settings the edge checks
(pipeline/edge/auth.py), so what one signs the other accepts:

    signer = Signer(settings)          # once: keys, templates and static headers built here
    headers = signer.headers(body)     # per request: {} when CXR_EDGE_AUTH=none

- `hmac`: `<CXR_EDGE_HMAC_SIGNATURE_HEADER>: sha256=<hex>` and
  `<CXR_EDGE_HMAC_TIMESTAMP_HEADER>: <unix seconds>`, HMAC-SHA256 with the first of
  `CXR_EDGE_HMAC_SECRETS` over `CXR_EDGE_HMAC_TEMPLATE` with `{timestamp}` and the raw body;
- `bearer`: `Authorization: Bearer <first of CXR_EDGE_BEARER_TOKENS>`;
- `basic`: `Authorization: Basic base64(<first of CXR_EDGE_BASIC_USERS>)`.

Per request, HMAC costs one copy of a keyed hash whose template prefix was fed once per
second, the body and the suffix; bearer and basic cost a dict copy. No secret is logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

from pydantic import SecretStr

from cxone_router.errors import ConfigurationError
from cxone_router.settings import Settings

Clock = Callable[[], float]


def first_secret(value: SecretStr | None, variable: str) -> bytes:
    """The first non-empty item of a comma-separated secret, read as the edge reads it."""
    raw = value.get_secret_value() if value is not None else ""
    for item in raw.split(","):
        if item.strip():
            return item.strip().encode()
    raise ConfigurationError(f"{variable} is required by CXR_EDGE_AUTH")


class Signer:
    """Signs request bodies for the edge configured by `settings`."""

    def __init__(self, settings: Settings, clock: Clock = time.time) -> None:
        self.mode = settings.edge_auth
        self._clock = clock
        self._static: dict[str, str] = {}
        if self.mode == "hmac":
            template = settings.edge_hmac_template
            if "{body}" not in template:
                raise ConfigurationError("CXR_EDGE_HMAC_TEMPLATE must contain {body}")
            # exactly as the edge splits it: around the first {body}
            self._prefix, _, self._suffix = template.partition("{body}")
            self._key = hmac.new(first_secret(settings.edge_hmac_secrets,
                                              "CXR_EDGE_HMAC_SECRETS"), digestmod=hashlib.sha256)
            self._signature_header = settings.edge_hmac_signature_header
            self._timestamp_header = settings.edge_hmac_timestamp_header
            # (second, its timestamp, key fed with the prefix, suffix): one tuple, replaced
            # whole, so a signer shared between threads never mixes two seconds
            self._state: tuple[int, str, hmac.HMAC, bytes] = (-1, "", self._key, b"")
        elif self.mode == "bearer":
            token = first_secret(settings.edge_bearer_tokens, "CXR_EDGE_BEARER_TOKENS")
            self._static = {"Authorization": "Bearer " + token.decode()}
        elif self.mode == "basic":
            user = first_secret(settings.edge_basic_users, "CXR_EDGE_BASIC_USERS")
            if b":" not in user:
                raise ConfigurationError("CXR_EDGE_BASIC_USERS takes user:password pairs")
            self._static = {"Authorization": "Basic " + base64.b64encode(user).decode()}

    @property
    def enabled(self) -> bool:
        """False when CXR_EDGE_AUTH=none: `headers()` is always {}."""
        return self.mode != "none"

    @property
    def per_request(self) -> bool:
        """True when the headers depend on the body and the time (hmac): sign every
        request; otherwise `headers()` is the same for every body and may be built once."""
        return self.mode == "hmac"

    def headers(self, body: bytes) -> dict[str, str]:
        """The headers that authenticate `body` (a new dict; the caller may add to it)."""
        if self.mode != "hmac":
            return dict(self._static)
        second = int(self._clock())
        state = self._state
        if state[0] != second:  # the template's parts change once a second at most
            stamp = str(second)
            keyed = self._key.copy()
            keyed.update(self._prefix.replace("{timestamp}", stamp).encode())
            state = self._state = (second, stamp, keyed,
                                   self._suffix.replace("{timestamp}", stamp).encode())
        _, stamp, keyed, suffix = state
        mac = keyed.copy()
        mac.update(body)
        mac.update(suffix)
        return {self._signature_header: "sha256=" + mac.hexdigest(),
                self._timestamp_header: stamp}


def signer_for(settings: Settings, clock: Clock = time.time) -> Signer | None:
    """A Signer when authentication is configured, else None (send nothing extra)."""
    return Signer(settings, clock) if settings.edge_auth != "none" else None


def sign(settings: Settings, body: bytes, clock: Clock = time.time) -> dict[str, str]:
    """One request's authentication headers ({} when CXR_EDGE_AUTH=none)."""
    return Signer(settings, clock).headers(body)
