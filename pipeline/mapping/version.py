"""The mapping version: a short, stable name for the content of the mapping files.

Every normalized record carries it (`mappingVersion`, and the `cxr-mapping-version` header
on its channel and fan-out records), so a consumer can tell which mappings produced a
record, and `cxone-router reprocess` can write records a consumer knows to be newer.

It is `m-` and the first 12 hex digits of a SHA-256 over the files the normalizer reads
(`mappings/*.json`, in name order), each as its name and its JSON re-serialized with
sorted keys: re-indenting a file or reordering its keys keeps the version; changing a
path, a value or a file's name changes it. Computed once, at start-up."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from cxone_router.mapping.errors import MappingError

PREFIX = "m-"
HEX_DIGITS = 12


def mapping_version(directory: Path) -> str:
    """The version of the mapping files in `directory` (`schemas/mappings`)."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.json")):
        try:
            canonical = orjson.dumps(orjson.loads(path.read_bytes()),
                                     option=orjson.OPT_SORT_KEYS)
        except (OSError, orjson.JSONDecodeError, orjson.JSONEncodeError) as exc:
            raise MappingError(f"{path}: cannot read mapping file: {exc}") from None
        digest.update(path.name.encode() + b"\0" + canonical + b"\0")
    return PREFIX + digest.hexdigest()[:HEX_DIGITS]
