"""Register the router's edge with a CXone tenant: the call `cxone-router dev` makes."""

from __future__ import annotations

from collections.abc import Sequence

from cxone_router.cxone.client import CxoneClient
from cxone_router.cxone.settings import CxoneSettings
from cxone_router.cxone.webhooks import DEFAULT_EVENTS


async def register_edge(
    settings: CxoneSettings, url: str, *, events: Sequence[str] = DEFAULT_EVENTS
) -> str:
    """Register `url` as the tenant's webhook (or find its registration) and return the id.

    Raises a `pipeline.cxone.errors.CxoneApiError` subclass (its `hint` says what to do) or
    `pipeline.errors.ConfigurationError` when credentials are missing. For a local fake use
    `CxoneSettings.for_fake(base_url)`.
    """
    async with CxoneClient(settings) as cxone:
        registration = await cxone.register_webhook(url, events=events)
        return registration.id
