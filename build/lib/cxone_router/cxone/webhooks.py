"""The webhook registration resource as the router sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_EVENTS = ("interaction.created", "interaction.updated", "interaction.completed")


def same_url(a: str, b: str) -> bool:
    """CXone may echo a URL with or without a trailing slash."""
    return a.rstrip("/") == b.rstrip("/")


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    name: str = ""
    events: tuple[str, ...] = ()
    scope: str = ""

    @classmethod
    def from_json(cls, body: Any) -> Webhook:
        if not isinstance(body, dict) or body.get("id") in (None, "") or "url" not in body:
            raise ValueError("a webhook needs an id and a url")
        events = body.get("events") or ()
        return cls(
            id=str(body["id"]),
            url=str(body["url"]),
            name=str(body.get("name") or ""),
            events=tuple(str(event) for event in events),
            scope=str(body.get("scope") or ""),
        )


@dataclass(frozen=True)
class Registration:
    """The outcome of `register`: the webhook, and whether this call created it."""

    webhook: Webhook
    created: bool

    @property
    def id(self) -> str:
        return self.webhook.id
