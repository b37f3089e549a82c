"""Topic names, derived from the prefix, the channel mappings and the fan-out routes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)
_ALREADY_EXISTS = TopicAlreadyExistsError.errno


@dataclass(frozen=True)
class Topics:
    prefix: str
    channels: tuple[str, ...]
    routes: tuple[str, ...]

    @property
    def raw(self) -> str:
        return f"{self.prefix}.webhooks.raw"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.webhooks.dlq"

    def channel(self, name: str) -> str:
        return f"{self.prefix}.interactions.{name}"

    def fanout(self, route: str) -> str:
        return f"{self.prefix}.fanout.{route}"

    def all(self) -> list[str]:
        return [
            self.raw,
            *(self.channel(c) for c in self.channels),
            *(self.fanout(r) for r in self.routes),
            self.dlq,
        ]


async def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int,
                        replication_factor: int) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Idempotent."""
    configs = {"min.insync.replicas": "2"} if replication_factor >= 3 else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in names if n not in existing]
        if not wanted:
            return []
        response = await admin.create_topics(
            [NewTopic(n, partitions, replication_factor, topic_configs=configs) for n in wanted]
        )
        created = []
        for name, code, message in (e[:3] for e in response.topic_errors):
            if code == 0:
                created.append(name)
            elif code != _ALREADY_EXISTS:
                raise RuntimeError(f"cannot create topic {name}: error {code} {message}")
        log.info("topics created", extra={"topics": created})
        return created
    finally:
        await admin.close()


async def missing_topics(bootstrap: str, names: Iterable[str]) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [n for n in names if n not in existing]
