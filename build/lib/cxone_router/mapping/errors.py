"""Why an event cannot be normalized (dead-letter reasons) and bad mapping files."""

from __future__ import annotations

from cxone_router.dlq import DeadLetterError, Reason
from cxone_router.errors import ConfigurationError


class MappingError(ConfigurationError):
    """A mapping or routes file is invalid; start-up stops naming the file."""


class MissingField(DeadLetterError):
    reason = Reason.MISSING_FIELD


class UnknownChannel(DeadLetterError):
    reason = Reason.UNKNOWN_CHANNEL


class SchemaViolation(DeadLetterError):
    reason = Reason.SCHEMA_VIOLATION
