"""Hostile values where the mappings expect scalars: found by tests/integration/test_fuzz.py.

Each was an exception out of the mapping: at the edge a 500 (channel detection runs there
to find the partition key), in the worker a `processing_error` dead letter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cxone_router.mapping import Normalizer
from cxone_router.mapping.conditions import compile_condition
from cxone_router.mapping.errors import UnknownChannel
from cxone_router.mapping.values import as_timestamp
from cxone_router.samples import brief, studio_voice

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
RECEIVED = 1_767_261_600_000_000_000


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer.from_dir(SCHEMAS)


@pytest.mark.parametrize("value", [[], ["voice"], {}, {"voice": True}, [[]]])
def test_in_condition_on_a_container_is_false_not_a_type_error(value: Any) -> None:
    condition = compile_condition({"path": "$.channelType", "in": ["voice", "phone"]}, "test")
    assert condition({"channelType": value}) is False
    assert condition({"channelType": "Voice"}) is True


@pytest.mark.parametrize("value", [[], ["voice"], {"a": 1}])
def test_a_list_or_object_as_channel_type_is_an_unknown_channel(
        normalizer: Normalizer, value: Any) -> None:
    # was: TypeError unhashable type, a 500 from the edge for {"data": {"channelType": []}}
    event = brief("interaction.created", "int-1", "voice")
    event["data"]["channelType"] = value
    assert normalizer.interaction_id(event) == "int-1"  # by the common paths
    with pytest.raises(UnknownChannel):
        normalizer.normalize(event, RECEIVED)


@pytest.mark.parametrize("text", [
    "²", "³⁴", "٣",  # str.isdigit() takes them, int() refuses the first two
    "9" * 5000,  # int() refuses more than 4300 digits
    "99999999999999999999999",  # fits int(), far past year 9999
    "0001-01-01T00:00:00+14:00",  # out of range once moved to UTC
    "9999-12-31T23:59:59.999999-23:59",
])
def test_impossible_timestamps_are_unparseable_not_an_exception(text: str) -> None:
    assert as_timestamp(text) is None


def test_timestamps_that_were_fine_still_are() -> None:
    assert as_timestamp("1767261600") == "2026-01-01T10:00:00.000Z"
    assert as_timestamp(" 1767261600000 ") == "2026-01-01T10:00:00.000Z"
    assert as_timestamp("2026-01-01T11:00:00+01:00") == "2026-01-01T10:00:00.000Z"
    assert as_timestamp("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00.000Z"


def test_a_studio_post_with_a_superscript_start_time_is_normalized(
        normalizer: Normalizer) -> None:
    # was: ValueError from int("²"), a processing_error dead letter
    fields = {**studio_voice("5551234", "Active"), "startTimeUtc": "²"}
    record = normalizer.normalize(fields, RECEIVED)
    assert record["occurredAt"] is None and "occurredAt" in record["missingFields"]
