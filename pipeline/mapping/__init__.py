"""Data-driven normalization: JSONPath mapping files under `schemas/mappings/`."""

from pipeline.mapping.errors import DeadLetter, MappingError
from pipeline.mapping.normalizer import EventKeys, Normalizer

__all__ = ["DeadLetter", "EventKeys", "MappingError", "Normalizer"]
