"""Topic names, derived from the prefix, the channel mappings and the fan-out routes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, TopicAuthorizationFailedError

from cxone_router.errors import CxoneRouterError
from cxone_router.kafka.diagnose import BrokerUnreachableError, start_client

if TYPE_CHECKING:
    from cxone_router.kafka.clients import Connection
    from cxone_router.mapping import Normalizer
    from cxone_router.routing import Route

log = logging.getLogger(__name__)
_ALREADY_EXISTS = TopicAlreadyExistsError.errno


class TopicsError(CxoneRouterError):
    """The brokers refused to create a topic (replication factor above the brokers…)."""


@dataclass(frozen=True)
class Topics:
    prefix: str
    channels: tuple[str, ...]
    routes: tuple[str, ...]

    @classmethod
    def of(cls, prefix: str, normalizer: Normalizer, routes: Iterable[Route]) -> Topics:
        """The pipeline's topics: a channel topic per mapping, a fan-out topic per route."""
        return cls(prefix, normalizer.channels, tuple(r.name for r in routes))

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


async def ensure_topics(kafka: Connection, names: Iterable[str], partitions: int,
                        replication_factor: int, max_message_bytes: int | None = None,
                        ) -> list[str]:
    """Create the topics that do not exist yet; return the names created. Idempotent.

    `max_message_bytes` is the producers' record limit (`clients.record_limit`), so a
    record the producer may send, the topic takes (a broker's default is 1,048,588)."""
    configs = {"min.insync.replicas": "2"} if replication_factor >= 3 else {}
    if max_message_bytes is not None:
        configs["max.message.bytes"] = str(max_message_bytes)
    admin = kafka.admin(request_timeout_ms=10_000)
    await start_client(admin, kafka)
    bootstrap = kafka.bootstrap
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
            elif code == TopicAuthorizationFailedError.errno:
                raise TopicsError(f"cannot create topic {name}: this principal may not (ACL "
                                  f"missing: CREATE on the topic or the cluster); create the "
                                  f"topics as an admin") from None
            elif code != _ALREADY_EXISTS:
                raise TopicsError(f"cannot create topic {name} on {bootstrap}: error {code} "
                                  f"{message}")
        log.info("topics created", extra={"topics": created})
        return created
    except KafkaError as exc:
        raise BrokerUnreachableError(
            f"Kafka at {bootstrap} answered, then failed: {exc!r}") from None
    finally:
        await admin.close()


async def missing_topics(kafka: Connection, names: Iterable[str]) -> list[str]:
    admin = kafka.admin(request_timeout_ms=5_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [n for n in names if n not in existing]
