from __future__ import annotations

import pytest

from cxone_router.payload import InvalidPayload, UnsupportedMediaType, decode, media_type


def test_json_object_is_decoded() -> None:
    assert decode(b'{"a": {"b": [1, 2]}}', "application/json; charset=utf-8") == {
        "a": {"b": [1, 2]}}


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null", b"{", b"", b"\xff"])
def test_anything_but_a_json_object_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidPayload):
        decode(body, "application/json")


def test_nesting_beyond_the_parsers_limit_is_invalid_not_a_crash() -> None:
    with pytest.raises(InvalidPayload):
        decode(b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json")


def test_studio_form_fields_become_an_object_and_repeats_a_list() -> None:
    body = b"contactId=123&ani=%2B15550100&isInbound=true&tag=a&tag=b&empty="
    assert decode(body, "application/x-www-form-urlencoded") == {
        "contactId": "123", "ani": "+15550100", "isInbound": "true", "tag": ["a", "b"],
        "empty": ""}


def test_json_posted_with_studios_default_form_type_is_read_as_json() -> None:
    assert decode(b' {"eventId": "e1"}', "application/x-www-form-urlencoded") == {
        "eventId": "e1"}


def test_form_field_count_is_limited() -> None:
    with pytest.raises(InvalidPayload):
        decode(b"&".join(b"f%d=1" % i for i in range(50)), "application/x-www-form-urlencoded",
               max_form_fields=10)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_other_content_types_are_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        media_type(content_type)


def test_missing_content_type_means_json_and_vendor_json_is_json() -> None:
    assert media_type(None) == "application/json"
    assert media_type("application/vnd.cxone+json") == "application/json"
