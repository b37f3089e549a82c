"""Why an event cannot be normalized (dead-letter reasons) and bad mapping files."""

from __future__ import annotations

from pipeline.errors import ConfigurationError, CxoneRouterError


class MappingError(ConfigurationError):
    """A mapping or routes file is invalid; start-up stops naming the file."""


class DeadLetter(CxoneRouterError):
    """An event that cannot be processed; `reason` is the dead-letter reason code and
    `channel` the channel detected before it failed, if any."""

    reason = "processing_error"

    def __init__(self, message: str, channel: str | None = None) -> None:
        super().__init__(message)
        self.channel = channel


class MissingField(DeadLetter):
    reason = "missing_field"


class UnknownChannel(DeadLetter):
    reason = "unknown_channel"


class SchemaViolation(DeadLetter):
    reason = "schema_violation"
