"""Topic names on the command line: a full name, or a short one (`raw`, `voice`, `dlq`…)."""

from __future__ import annotations

from collections.abc import Callable

from cxone_router.errors import CxoneRouterError
from cxone_router.kafka.topics import Topics


class UnknownTopicError(CxoneRouterError):
    """The name is neither a short name nor a topic on the brokers."""


def short_names(topics: Topics) -> dict[str, str]:
    """Short name -> full name: `raw`, every channel, every fan-out route, `dlq`."""
    names = {"raw": topics.raw}
    names.update((c, topics.channel(c)) for c in topics.channels)
    names.update((r, topics.fanout(r)) for r in topics.routes)
    names["dlq"] = topics.dlq
    return names


def resolve(name: str, topics: Topics) -> str:
    """The full name for `name` (a short name, else `name` itself)."""
    return short_names(topics).get(name, name)


def resolve_lazily(name: str, prefix: str, topics: Callable[[], Topics]) -> str:
    """`resolve` that builds the pipeline's topics (compiling every mapping: half a second)
    only for a short name that needs them: `raw`, `dlq` and full names do not."""
    if name in ("raw", "dlq"):
        return short_names(Topics(prefix, (), ()))[name]
    if "." in name:
        return name
    return resolve(name, topics())


def unknown_topic(name: str, topics: Topics, bootstrap: str) -> UnknownTopicError:
    return UnknownTopicError(
        f"unknown topic {name!r}: no such topic on {bootstrap}; short names: "
        f"{', '.join(short_names(topics))} (prefix {topics.prefix!r}, CXR_TOPIC_PREFIX)")
