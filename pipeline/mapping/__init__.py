"""Data-driven normalization: JSONPath mapping files under `schemas/mappings/`."""

from cxone_router.mapping.errors import MappingError
from cxone_router.mapping.normalizer import EventKeys, Normalizer

__all__ = ["EventKeys", "MappingError", "Normalizer"]
