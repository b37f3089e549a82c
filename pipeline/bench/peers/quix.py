"""Candidate (b): the job on Quix Streams (a bench extra: `pip install -e '.[bench]'`).

    python -m cxone_router.bench.peers.quix --raw-topic T --group G

Settings (the topic prefix of its outputs, the schemas, the redaction key) come from the
CXR_* environment, as a worker's do. Dedup state lives in Quix's RocksDB store (with its
changelog topic), keyed by the raw record's key as Quix scopes state, the dedup key
(`<partition>/<idempotency key>`) under it. At-least-once: Quix's checkpoint every second
flushes the producer and the state's changelog, then commits the offsets. Runs until
SIGTERM (Quix's own handler: it stops after the message in hand, with a last checkpoint).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from cxone_router.agents.delivery import Output
from cxone_router.bench.peers.job import Job
from cxone_router.kafka.clients import Connection
from cxone_router.settings import load_settings


def librdkafka_connection(kafka: Connection) -> dict[str, Any]:
    """The connection (and its security) as librdkafka's settings, which Quix takes."""
    s = kafka.security
    config: dict[str, Any] = {"bootstrap.servers": kafka.bootstrap,
                              "security.protocol": s.protocol.lower()}
    if s.sasl:
        config.update({"sasl.mechanism": s.mechanism, "sasl.username": s.username,
                       "sasl.password": s.password})
    if s.tls:
        config.update({k: v for k, v in {
            "ssl.ca.location": s.ca_file, "ssl.certificate.location": s.cert_file,
            "ssl.key.location": s.key_file, "ssl.key.password": s.key_password,
        }.items() if v is not None})
        config["ssl.endpoint.identification.algorithm"] = "https" if s.check_hostname else "none"
    return config


# What the worker's producer does (agents/app.py): acks=all, idempotent, linger 1 ms, and no
# compression, spelled out. murmur2 is Quix's default partitioner and the Java client's.
PRODUCER = {"acks": "all", "enable.idempotence": True, "linger.ms": 1,
            "compression.type": "none", "partitioner": "murmur2"}


def run(raw_topic: str, group: str, state_dir: str) -> None:
    from quixstreams import Application, message_context
    from quixstreams.kafka.configuration import ConnectionConfig
    from quixstreams.models.serializers import Serializer
    from quixstreams.state import State

    class OutputValue(Serializer):
        """An `Output`'s bytes as they are (its key goes by `to_topic(key=...)`)."""

        def __call__(self, value: Output, ctx: Any) -> bytes:
            return value.value

    settings = load_settings()
    kafka = Connection.of(settings)
    job = Job(settings)
    app = Application(
        broker_address=ConnectionConfig.from_librdkafka_dict(librdkafka_connection(kafka)),
        consumer_group=group,
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        commit_interval=1.0,
        state_dir=state_dir,
        producer_extra_config=PRODUCER,
        loglevel="WARNING",
    )
    source = app.topic(raw_topic, key_deserializer="bytes", value_deserializer="bytes")
    serializer = OutputValue()
    outputs = {name: app.topic(name, key_serializer="bytes", value_serializer=serializer)
               for name in job.output_topics}
    ttl_ms = job.ttl_ms

    def process(value: bytes, key: bytes | None, timestamp: int, headers: Any,
                state: State[str, int]) -> list[Output]:
        context = message_context()
        now_ms = int(time.time() * 1000)

        def seen(dedup_key: str) -> bool:
            seen_at = state.get(dedup_key)
            return seen_at is not None and now_ms - seen_at < ttl_ms

        mark, written = job.handle(context.topic, context.partition, context.offset, key,
                                   value, headers, seen)
        if mark is not None:
            state.set(mark, now_ms)
        return written

    sdf = app.dataframe(source)
    sdf = sdf.apply(process, stateful=True, expand=True, metadata=True)
    sdf = sdf.set_headers(lambda value, key, timestamp, headers: value.headers)
    sdf.to_topic(lambda value, key, timestamp, headers: outputs[value.topic],
                 key=lambda value: value.key)
    app.run()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cxone_router.bench.peers.quix")
    parser.add_argument("--raw-topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", help="RocksDB's folder (default: a temporary one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.state_dir:
        run(args.raw_topic, args.group, args.state_dir)
        return
    with tempfile.TemporaryDirectory(prefix="quix-state-") as state_dir:
        run(args.raw_topic, args.group, state_dir)


if __name__ == "__main__":
    main()
