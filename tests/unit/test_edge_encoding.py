"""Content codings at the edge: decoded within the body limit, refused when unknown."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from cxone_router.edge.body import BodyTooLarge
from cxone_router.edge.encoding import UnsupportedEncoding, codings, decoded
from cxone_router.payload import InvalidPayload, decode


def test_codings_are_read_in_order_without_identity_and_unknown_ones_refused() -> None:
    assert codings(None) == [] and codings("identity") == []
    assert codings("GZIP") == ["gzip"] and codings("deflate, gzip") == ["deflate", "gzip"]
    for header in ("br", "gzip, zstd", "compress"):
        with pytest.raises(UnsupportedEncoding):
            codings(header)


def test_stacked_codings_are_undone_last_applied_first() -> None:
    body = b'{"a": 1}'
    assert decoded(gzip.compress(zlib.compress(body)), ["deflate", "gzip"], 100) == body


def test_a_bomb_stops_at_the_limit_without_inflating_it_whole() -> None:
    bomb = gzip.compress(b"\0" * 200_000_000, compresslevel=9)  # about 200 KB
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge, match="once gzip-decoded"):
            decoded(bomb, ["gzip"], 1_048_576)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1_048_576  # about the limit, not 200 MB


def test_a_body_exactly_at_the_limit_passes_and_a_broken_one_is_invalid() -> None:
    body = b"x" * 1000
    assert decoded(gzip.compress(body), ["gzip"], 1000) == body
    with pytest.raises(BodyTooLarge):
        decoded(gzip.compress(body + b"x"), ["gzip"], 1000)
    with pytest.raises(InvalidPayload, match="invalid gzip body"):
        decoded(b"not gzip at all", ["gzip"], 1000)
    with pytest.raises(InvalidPayload, match="ends before"):
        decoded(gzip.compress(body)[:-12], ["gzip"], 1000)


def test_json_after_a_byte_order_mark_decodes() -> None:
    assert decode(b'\xef\xbb\xbf{"id": "x"}', "application/json") == {"id": "x"}
    assert decode(b'\xef\xbb\xbf{"id": "x"}', "application/x-www-form-urlencoded") == {
        "id": "x"}
