"""Content codings (RFC 9110 §8.4): a body sent gzip- or deflate-compressed is decoded,
with the body limit applied to the decoded size; any other coding gets 415 with the
codings we take (RFC 7694). The raw topic stores the decoded body, so everything after
the edge (the worker, `dlq show`, replays, `reprocess`) reads it as if sent plain."""

from __future__ import annotations

import zlib

from cxone_router.edge.body import BodyTooLarge
from cxone_router.errors import CxoneRouterError
from cxone_router.payload import InvalidPayload

ACCEPTED = "gzip, deflate"
# wbits for zlib: gzip's framing; deflate is the zlib format (RFC 9110), though some
# senders send raw deflate: tried when the zlib header is not there.
_GZIP, _ZLIB, _RAW_DEFLATE = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS, -zlib.MAX_WBITS
_CODINGS = {"gzip": _GZIP, "x-gzip": _GZIP, "deflate": _ZLIB}


class UnsupportedEncoding(CxoneRouterError):
    """A content coding the edge cannot decode: answered 415 with `Accept-Encoding`."""


def codings(header: str | None) -> list[str]:
    """The codings of a `Content-Encoding` header, in the order they were applied
    (`identity` dropped); raises for one we cannot decode. Checked before the body is
    read, so a body we could not use is not read."""
    if not header:
        return []
    found = [c.strip().lower() for c in header.split(",")]
    found = [c for c in found if c and c != "identity"]
    if unknown := [c for c in found if c not in _CODINGS]:
        raise UnsupportedEncoding(f"unsupported content coding {unknown[0]!r}; send the "
                                  f"body plain or with {ACCEPTED}")
    if len(found) > 2:
        raise UnsupportedEncoding("more than two content codings; send at most one")
    return found


def decoded(body: bytes, applied: list[str], limit: int) -> bytes:
    """The body with its codings undone, last applied first. A decoded size over `limit`
    stops decoding there (a small bomb costs `limit` bytes, not what it would inflate
    to) and raises BodyTooLarge."""
    for coding in reversed(applied):
        body = _inflate(body, _CODINGS[coding], coding, limit)
    return body


def _inflate(data: bytes, wbits: int, coding: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        if wbits == _ZLIB:  # "deflate" sent without the zlib wrapper
            return _inflate(data, _RAW_DEFLATE, coding, limit)
        raise InvalidPayload(f"invalid {coding} body: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(f"body is over the limit of {limit} bytes once {coding}-decoded")
    if not inflater.eof:
        raise InvalidPayload(f"invalid {coding} body: it ends before its compressed data")
    return out
