"""A bad profile fails before the first request, naming the knob."""

from __future__ import annotations

import pytest

from cxone_router.errors import ConfigurationError
from cxone_router.simulate.profiles import Profile, parse_channel_mix


def test_channel_mix_parses_and_normalises() -> None:
    mix = parse_channel_mix("voice=3, chat=1")
    assert mix == {"voice": 3.0, "chat": 1.0}
    profile = Profile(channels=mix)
    assert dict(profile.channels) == {"voice": 0.75, "chat": 0.25}
    assert sum(w for _, w in profile.channel_weights) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "named"),
    [("fax=1", "fax"), ("voice", "voice"), ("voice=lots", "lots")],
)
def test_a_bad_channel_mix_names_the_culprit(text: str, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        parse_channel_mix(text)


@pytest.mark.parametrize(
    ("knobs", "named"),
    [
        ({"rate": 0}, "rate"),
        ({"count": 0}, "count"),
        ({"duration": -1}, "duration"),
        ({"concurrency": 0}, "concurrency"),
        ({"drift": 1.5}, "drift"),
        ({"redeliveries": 0.6, "malformed": 0.6}, "redeliveries"),
        ({"channels": {"voice": 0.0}}, "channels"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"backoff": 2.0, "max_backoff": 1.0}, "max_backoff"),
    ],
)
def test_conflicting_or_out_of_range_knobs_are_refused(
    knobs: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Profile(**knobs)  # type: ignore[arg-type]


def test_without_count_or_duration_a_run_is_continuous() -> None:
    assert Profile().continuous
    assert not Profile(count=1).continuous
    assert not Profile(duration=1).continuous
