"""One root exception; retry loops read `retriable` instead of listing exception types."""

from __future__ import annotations


class CxoneRouterError(Exception):
    """Root of every error this project raises on purpose."""

    retriable: bool = False


class ConfigurationError(CxoneRouterError):
    """A setting is missing or invalid; start-up stops with a message naming it."""
