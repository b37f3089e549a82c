"""Data-driven normalization: JSONPath mapping files under `schemas/mappings/`."""

from pipeline.mapping.errors import MappingError
from pipeline.mapping.normalizer import EventKeys, Normalizer

__all__ = ["EventKeys", "MappingError", "Normalizer"]
