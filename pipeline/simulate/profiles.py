"""A simulation run, described once: how much traffic, of which kind, how it is sent.

Conflicting or out-of-range knobs fail in the constructor with a message naming them, so
`simulate`, `dev --simulate` and `bench` reject a bad profile before the first request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cxone_router.errors import ConfigurationError
from cxone_router.simulate.events import CHANNELS, Channel

DEFAULT_CHANNEL_MIX: Mapping[Channel, float] = MappingProxyType(
    {"voice": 0.3, "chat": 0.3, "sms": 0.2, "email": 0.2}
)


def parse_channel_mix(text: str) -> dict[Channel, float]:
    """`"voice=0.3,chat=0.3,sms=0.2,email=0.2"` -> weights; omitted channels get none."""
    mix: dict[Channel, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        channel = next((c for c in CHANNELS if c == name.strip().lower()), None)
        if channel is None or not sep:
            raise ConfigurationError(
                f"--channels: {part!r} is not CHANNEL=WEIGHT with CHANNEL in {', '.join(CHANNELS)}"
            )
        try:
            mix[channel] = float(weight)
        except ValueError:
            raise ConfigurationError(f"--channels: weight {weight!r} is not a number") from None
    return mix


def _share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{name} must be a share between 0 and 1, got {value}")


@dataclass(frozen=True, slots=True)
class Profile:
    """Every knob of a run. Neither `duration` nor `count`: run until told to stop."""

    rate: float | None = 100.0
    """Events per second; None sends as fast as `concurrency` allows."""
    duration: float | None = None
    """Seconds of sending; the run then drains what is in flight."""
    count: int | None = None
    """Events to send, redeliveries and malformed ones included."""
    concurrency: int = 64
    """Events in flight at once, an event waiting for its retry included."""
    channels: Mapping[Channel, float] = field(default_factory=lambda: DEFAULT_CHANNEL_MIX)
    """Relative weight of each channel among interactions; normalised to sum to 1."""
    simplified: float = 0.3
    """Share of interactions in the brief's simplified shape; the rest use the channel's
    native shape (Studio form posts for voice, DFO events for chat, SMS and email)."""
    redeliveries: float = 0.05
    """Share of events that repeat an earlier event byte for byte."""
    drift: float = 0.1
    """Share of JSON interactions whose events carry fields where newer tenants put them."""
    malformed: float = 0.01
    """Share of events the edge should reject (400) or the pipeline dead-letter."""
    seed: int | None = None
    """Same seed, same epoch: byte-identical traffic. None picks one (reported in the summary)."""
    epoch: float | None = None
    """Unix time of the first event's timestamps; None = when the run starts."""
    timeout: float = 10.0
    """Seconds to wait for one answer before counting the attempt as timed out."""
    max_attempts: int = 5
    """Attempts per event, the first included, before the event counts as lost."""
    backoff: float = 0.1
    """Longest first retry delay in seconds; doubles per attempt up to `max_backoff`; the
    delay is drawn uniformly below it (full jitter, cxone_router.retry)."""
    max_backoff: float = 10.0
    max_retry_after: float = 60.0
    """A `Retry-After` longer than this is shortened to it, so a run stays bounded."""

    channel_weights: tuple[tuple[Channel, float], ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.rate is not None and not self.rate > 0:
            raise ConfigurationError(f"rate must be > 0 events/s (or unset), got {self.rate}")
        if self.duration is not None and not self.duration > 0:
            raise ConfigurationError(f"duration must be > 0 seconds, got {self.duration}")
        if self.count is not None and self.count < 1:
            raise ConfigurationError(f"count must be at least 1, got {self.count}")
        if self.concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1, got {self.concurrency}")
        for name in ("simplified", "redeliveries", "drift", "malformed"):
            _share(name, getattr(self, name))
        if self.redeliveries + self.malformed > 1.0:
            raise ConfigurationError(
                f"redeliveries ({self.redeliveries}) + malformed ({self.malformed}) exceed 1"
            )
        if self.timeout <= 0 or self.backoff < 0 or self.max_backoff < self.backoff:
            raise ConfigurationError("need timeout > 0 and 0 <= backoff <= max_backoff")
        if self.max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, got {self.max_attempts}")
        unknown = set(self.channels) - set(CHANNELS)
        if unknown:
            raise ConfigurationError(f"channels: unknown {sorted(unknown)}; use {CHANNELS}")
        if any(w < 0 for w in self.channels.values()) or sum(self.channels.values()) <= 0:
            raise ConfigurationError("channels: weights must be >= 0 and not all 0")
        total = sum(self.channels.values())
        weights = tuple((c, self.channels[c] / total) for c in CHANNELS if self.channels.get(c))
        object.__setattr__(self, "channels", MappingProxyType(dict(weights)))
        object.__setattr__(self, "channel_weights", weights)

    @property
    def continuous(self) -> bool:
        return self.duration is None and self.count is None
