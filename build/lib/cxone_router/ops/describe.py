"""`topics describe`: each pipeline topic's partitions, record count and retention."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cxone_router.kafka.clients import Connection
from cxone_router.kafka.diagnose import refuse_unauthorized
from cxone_router.kafka.topics import Topics
from cxone_router.ops.connect import consuming, open_admin
from cxone_router.ops.names import short_names
from cxone_router.ops.records import counts
from cxone_router.settings import Settings

RETENTION = "retention.ms"
# DescribeConfigs' config_source: set on the broker (static or dynamic) or Kafka's default
_BROKER_SOURCES = {2, 3, 4, 5}


@dataclass(frozen=True)
class Retention:
    ms: int | None  # None: the topic's describe said nothing (the broker's default applies)
    broker_default: bool  # the value is the broker's, not set on the topic

    def describe(self) -> str:
        if self.ms is None:
            return "broker default"
        shown = "forever" if self.ms < 0 else f"{duration(self.ms)} ({self.ms} ms)"
        return f"{shown}, broker default" if self.broker_default else shown


@dataclass(frozen=True)
class TopicInfo:
    name: str
    short: str | None
    exists: bool
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)  # (beginning, end)
    retention: Retention = Retention(None, True)

    @property
    def partitions(self) -> int:
        return len(self.offsets)

    @property
    def records(self) -> int:
        return sum(end - begin for begin, end in self.offsets.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.name, "short_name": self.short, "exists": self.exists,
            "partitions": self.partitions if self.exists else None,
            "records": self.records if self.exists else None,
            "offsets": {str(p): {"beginning": b, "end": e}
                        for p, (b, e) in sorted(self.offsets.items())},
            "retention_ms": self.retention.ms,
            "retention": self.retention.describe() if self.exists else None,
        }


def duration(ms: int) -> str:
    """604800000 -> 7d; 5400000 -> 1h30m; 1500 -> 1.5s."""
    if ms < 1000:
        return f"{ms}ms"
    seconds, rest = divmod(ms, 1000)
    if rest:
        return f"{ms / 1000:g}s"
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def config_entries(responses: Iterable[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(topic, config entry) of DescribeConfigs responses (any version); a resource the
    broker answered with an error has none."""
    for response in responses:
        data = response.to_object() if hasattr(response, "to_object") else response
        for resource in data.get("resources", []):
            if resource.get("error_code"):
                continue
            for entry in resource.get("config_entries", []):
                yield resource["resource_name"], entry


def retentions(responses: Iterable[Any]) -> dict[str, Retention]:
    """retention.ms by topic from DescribeConfigs responses (any version)."""
    found: dict[str, Retention] = {}
    for topic, entry in config_entries(responses):
        if entry.get("config_names") != RETENTION or entry.get("config_value") is None:
            continue
        source = entry.get("config_source")
        default = (source in _BROKER_SOURCES if source is not None
                   else bool(entry.get("is_default")))
        try:
            found[topic] = Retention(int(entry["config_value"]), default)
        except ValueError:
            continue
    return found


async def describe(settings: Settings, kafka: Connection, topics: Topics) -> list[TopicInfo]:
    """Every pipeline topic, in `Topics.all()` order; one missing on the brokers says so."""
    shorts = {full: short for short, full in short_names(topics).items()}
    async with consuming(settings, kafka) as consumer:
        cluster = await consumer._client.fetch_all_metadata()
        present = {name: sorted(cluster.partitions_for_topic(name) or ())
                   for name in topics.all()}
        if unseen := [name for name, parts in present.items() if not parts]:
            await refuse_unauthorized(consumer._client, unseen, "DESCRIBE", "operator")
        offsets = {name: await counts(consumer, name, parts)
                   for name, parts in present.items() if parts}
    existing = [name for name in offsets]
    kept: dict[str, Retention] = {}
    if existing:
        admin = await open_admin(kafka)
        try:
            kept = retentions(await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name) for name in existing]))
        finally:
            await admin.close()
    return [
        TopicInfo(name, shorts.get(name), name in offsets, offsets.get(name, {}),
                  kept.get(name, Retention(None, True)))
        for name in topics.all()
    ]
