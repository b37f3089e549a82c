"""The peers phase: the identical job on three candidates, one after the other, each in
its own process, on one broker and the same preloaded events.

- `faust`: the project's worker, started as the pipeline phase starts it
  (`Stack.start_worker`, settings from `new_stack`);
- `quix`: Quix Streams (`pipeline.bench.peers.quix`), the project's transform, RocksDB
  state for dedup, at-least-once with a checkpoint every second;
- `loop`: a plain asyncio loop on aiokafka (`pipeline.bench.peers.loop`).

The events are produced once to one raw topic (the Faust candidate's, `<run>-faust.
webhooks.raw`), which every candidate reads with a consumer group of its own; each writes
to topics of its own prefix (`<run>-<candidate>.…`). The output topics are created here
with `message.timestamp.type=LogAppendTime`, so that a record's timestamp is the broker's
append time whatever the client sets (Quix forwards the input record's timestamp).

Per candidate: events/s from its first output record's broker timestamp to its last (the
start-up and the group join are out); worker CPU from /proc of its process, start-up
included, read when the last expected output is on the broker (as `phases._pipeline`
does); and its outputs read back and compared, per (topic without prefix, key): count,
partition, and the values and headers in order, with the outputs the transform itself
gives for the same events in the same order (`expected`).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner

from cxone_router.bench.peers.job import Job, output_topics
from cxone_router.bench.peers.outputs import Collector, Summary, read_outputs
from cxone_router.bench.phases import _cpu_seconds, new_stack
from cxone_router.bench.traffic import Webhook, webhooks
from cxone_router.kafka.apache import KAFKA_VERSION, ApacheKafka
from cxone_router.kafka.clients import Connection, record_limit
from cxone_router.kafka.headers import CONTENT_TYPE, RECEIVED_NS
from cxone_router.settings import ENV_PREFIX, Settings, load_settings
from cxone_router.stack import Stack

CANDIDATES = ("faust", "quix", "loop")
LABELS = {
    "faust": "this project's Faust worker",
    "quix": "Quix Streams 3.28.1 (RocksDB dedup, at-least-once, commit every 1 s)",
    "loop": "plain asyncio loop on aiokafka 0.14 (getmany 500, dict dedup, commit after acks)",
}
SEED = 23


class PeersError(RuntimeError):
    pass


@dataclass
class CandidateResult:
    name: str
    events: int
    records: int  # output records read back
    events_per_second: float  # first to last output record, broker append time
    seconds: float
    worker_cpu_ms_per_1k: float  # whole process, start-up and group join included
    start_up_cpu_seconds: float  # of that, before its first output was on the broker
    identical: bool  # its outputs are the expected ones, byte for byte, in per-key order
    differing_streams: int  # (topic, key) streams that differ from the expected ones
    by_topic: dict[str, int] = field(default_factory=dict)
    guarantee: str = ""  # the Faust worker's processing guarantee (CXR_PROCESSING_GUARANTEE)

    @property
    def label(self) -> str:
        label = LABELS.get(self.name, self.name)
        return f"{label}, {self.guarantee}" if self.guarantee else label


@dataclass
class PeersResult:
    events: int
    expected_records: int
    broker: str
    partitions: int
    candidates: list[CandidateResult]
    expected_by_topic: dict[str, int] = field(default_factory=dict)
    date: str = ""

    @property
    def identical(self) -> bool:
        """Every candidate wrote exactly the expected records (so all the same ones)."""
        return all(c.identical for c in self.candidates)

    def to_markdown(self) -> str:
        topics = ", ".join(f"{t.lstrip('.')} {n:,}" for t, n in self.expected_by_topic.items())
        lines = [
            f"Peers: {self.events:,} events (`webhooks(seed={SEED})`), {self.broker}, "
            f"{self.partitions} partitions; {self.expected_records:,} output records expected "
            f"({topics})",
            "",
            "| candidate | events/s | worker CPU ms per 1,000 events | start-up CPU s "
            "| identical outputs |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for c in self.candidates:
            same = (f"yes ({c.records:,} records)" if c.identical else
                    f"NO: {c.records:,} records, {c.differing_streams:,} (topic, key) "
                    f"streams differ")
            lines.append(f"| {c.label} | {c.events_per_second:,.0f} | "
                         f"{c.worker_cpu_ms_per_1k:,.1f} | {c.start_up_cpu_seconds:.2f} | "
                         f"{same} |")
        lines += ["", "events/s: from a candidate's first output record to its last (broker "
                  "append time). CPU: its process, from start to its last output (start-up "
                  "and group join included; the start-up column is the part before its "
                  "first output)."]
        return "\n".join(lines)


# ---- topics and events --------------------------------------------------------------------


async def create_topics(kafka: Connection, names: list[str], partitions: int,
                        replication_factor: int, configs: dict[str, str]) -> None:
    admin = kafka.admin(request_timeout_ms=30_000)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(n, partitions, replication_factor, topic_configs=configs) for n in names])
        for name, code, message in (e[:3] for e in response.topic_errors):
            if code not in (0, TopicAlreadyExistsError.errno):
                raise PeersError(f"cannot create topic {name}: error {code} {message}")
    finally:
        await admin.close()


@dataclass(frozen=True, slots=True)
class Preloaded:
    """A raw record as every candidate reads it."""

    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


async def preload(kafka: Connection, topic: str, events: list[Webhook]) -> list[Preloaded]:
    """The events on `topic` with the headers the edge writes (a receive time fixed per
    event, so that every candidate's records carry the same bytes); returns where each
    landed."""
    producer = kafka.producer(acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    base_ns = time.time_ns()
    headers = [[(CONTENT_TYPE, w.content_type.encode()),
                (RECEIVED_NS, str(base_ns + i * 1000).encode())] for i, w in enumerate(events)]
    try:
        futures = [await producer.send(topic, w.body, key=w.key, headers=h)
                   for w, h in zip(events, headers, strict=True)]
        written = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [Preloaded(m.partition, m.offset, w.key, w.body, h)
            for m, w, h in zip(written, events, headers, strict=True)]


def expected_outputs(job: Job, raw_topic: str, records: list[Preloaded],
                     partitions: int) -> Summary:
    """What every candidate must write: the transform over the raw records in the order a
    consumer reads each partition, deduplicated, each output on its key's partition (the
    murmur2 partitioner of the Java client, aiokafka and Quix)."""
    seen: set[str] = set()
    collector = Collector(job.topics.prefix)
    partitioner = DefaultPartitioner()
    all_partitions = list(range(partitions))
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        mark, outputs = job.handle(raw_topic, r.partition, r.offset, r.key, r.value,
                                   r.headers, seen.__contains__)
        if mark is not None:
            seen.add(mark)
        for o in outputs:
            partition = partitioner(o.key, all_partitions, all_partitions)
            collector.add(o.topic, partition, o.key, o.value, o.headers or [])
    return collector.summary()


# ---- one candidate -----------------------------------------------------------------------


async def _committed_to_end(kafka: Connection, group: str, ends: dict[TopicPartition, int],
                            timeout: float) -> bool:
    """Wait until `group` committed every raw partition up to its end."""
    admin = kafka.admin(request_timeout_ms=10_000)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            committed = await admin.list_consumer_group_offsets(group)
            if all(committed.get(tp) is not None and committed[tp].offset >= end
                   for tp, end in ends.items()):
                return True
            await asyncio.sleep(0.2)
        return False
    finally:
        await admin.close()


def _log_tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def _start(name: str, stack: Stack, raw_topic: str, group: str) -> int:
    if name == "faust":
        return stack.start_worker("faust", metrics_port=0)
    assert stack.log_dir is not None
    with (stack.log_dir / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", f"cxone_router.bench.peers.{name}", "--raw-topic", raw_topic,
             "--group", group],
            env=stack.child_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    stack.processes[name] = process
    return process.pid


async def run_candidate(name: str, stack: Stack, kafka: Connection, raw_topic: str,
                        raw_ends: dict[TopicPartition, int], expected: Summary, events: int,
                        timeout: float) -> CandidateResult:
    prefix = stack.settings.topic_prefix
    job_topics = output_topics(stack.topics)
    partitions = stack.settings.partitions
    outputs = [TopicPartition(t, p) for t in job_topics for p in range(partitions)]
    group = f"{prefix}-router" if name == "faust" else f"{prefix}-peer"
    assert stack.log_dir is not None
    log = stack.log_dir / f"{name}.log"
    watcher = kafka.consumer(group_id=None, enable_auto_commit=False)  # end offsets only
    await watcher.start()
    try:
        pid = _start(name, stack, raw_topic, group)
        start_up_cpu: float | None = None
        deadline = time.monotonic() + timeout
        while True:
            process = stack.processes[name]
            if process.poll() is not None:
                raise PeersError(f"{name} exited ({process.returncode}) before writing every "
                                 f"output; the end of its log ({log}):\n{_log_tail(log)}")
            written = sum((await watcher.end_offsets(outputs)).values())
            cpu = _cpu_seconds(pid)
            if written and start_up_cpu is None:
                start_up_cpu = cpu
            if written >= expected.records:
                break
            if time.monotonic() > deadline:
                raise PeersError(f"{name}: only {written:,} of {expected.records:,} output "
                                 f"records within {timeout:.0f} s; its log ({log}):\n"
                                 f"{_log_tail(log)}")
            await asyncio.sleep(0.2)
        # done: every raw offset committed, so nothing is left in flight (exactly once:
        # every transaction committed; its markers count in the end offsets above)
        if not await _committed_to_end(kafka, group, raw_ends, 30):
            raise PeersError(f"{name} wrote its outputs but did not commit every offset "
                             f"within 30 s")
    finally:
        await asyncio.to_thread(stack.stop, name)
        await watcher.stop()
    found = await read_outputs(kafka, prefix, job_topics, partitions, timeout)
    seconds = max(0.001, (found.last_ms - found.first_ms) / 1000)
    differing = found.differences(expected)
    return CandidateResult(
        name=name, events=events, records=found.records,
        events_per_second=round(events / seconds, 1), seconds=round(seconds, 2),
        worker_cpu_ms_per_1k=round(cpu * 1e6 / events, 1),
        start_up_cpu_seconds=round(start_up_cpu or 0.0, 2),
        identical=differing == 0, differing_streams=differing, by_topic=found.by_topic,
        guarantee=("exactly_once" if stack.settings.exactly_once else "at_least_once")
        if name == "faust" else "")


# ---- the phase ----------------------------------------------------------------------------


def _settings_of(env: dict[str, str]) -> Settings:
    """The settings a child with environment `env` loads."""
    return load_settings(**{k[len(ENV_PREFIX):].lower(): v for k, v in env.items()
                            if k.startswith(ENV_PREFIX)})


async def _peers(base: Settings, count: int, candidates: tuple[str, ...], broker: str,
                 kafka_env: dict[str, str], log_dir: Path, timeout: float) -> PeersResult:
    run = f"peers{int(time.time() * 1000) % 10**8}"
    stacks = {}
    for name in candidates:
        stacks[name] = new_stack(base, **kafka_env, CXR_TOPIC_PREFIX=f"{run}-{name}")
        stacks[name].log_dir = log_dir
    # the raw topic every candidate reads: the Faust worker's, whose name its prefix fixes
    raw_topic = new_stack(base, **kafka_env, CXR_TOPIC_PREFIX=f"{run}-faust").topics.raw
    first = next(iter(stacks.values()))
    settings = _settings_of(first.child_env())  # what the candidates load
    kafka = Connection.of(settings)
    partitions, rf = settings.partitions, settings.replication_factor
    limit = {"max.message.bytes": str(record_limit(settings))}
    await create_topics(kafka, [raw_topic], partitions, rf, limit)
    for stack in stacks.values():
        await create_topics(kafka, output_topics(stack.topics), partitions, rf,
                            {**limit, "message.timestamp.type": "LogAppendTime"})
    raw = await preload(kafka, raw_topic, webhooks(count, seed=SEED,
                                                   schemas_dir=settings.schemas_dir))
    raw_ends: dict[TopicPartition, int] = {}
    for r in raw:
        tp = TopicPartition(raw_topic, r.partition)
        raw_ends[tp] = max(raw_ends.get(tp, 0), r.offset + 1)
    expected = expected_outputs(Job(settings, prefix=f"{run}-expected"), raw_topic, raw,
                                partitions)
    results = []
    try:
        for name, stack in stacks.items():
            results.append(await run_candidate(name, stack, kafka, raw_topic, raw_ends,
                                               expected, count, timeout))
    finally:
        for stack in stacks.values():
            await asyncio.to_thread(stack.stop_all)
    return PeersResult(count, expected.records, broker, partitions, results,
                       expected.by_topic, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))


def peers_phase(base: Settings, count: int, candidates: tuple[str, ...] = CANDIDATES,
                nodes: int = 1, log_dir: Path | None = None,
                timeout: float | None = None) -> PeersResult:
    """Run the candidates one after the other on `count` events. The broker: a new Apache
    Kafka of `nodes` nodes, or the cluster at CXR_KAFKA_BOOTSTRAP when that is set.
    Candidates' logs go to `log_dir` (else a temporary folder, removed afterwards)."""
    if unknown := [c for c in candidates if c not in CANDIDATES]:
        raise PeersError(f"unknown candidates {unknown}: choose from {', '.join(CANDIDATES)}")
    timeout = timeout if timeout is not None else 60 + count / 500
    with contextlib.ExitStack() as cleanup:
        if log_dir is None:
            log_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(
                prefix="cxr-peers-")))
        if base.kafka_bootstrap:
            broker = f"the cluster at {base.kafka_bootstrap}"
            kafka_env: dict[str, Any] = {}
        else:
            cluster = cleanup.enter_context(ApacheKafka(nodes=nodes))
            broker = f"Apache Kafka {KAFKA_VERSION}, {nodes} node{'s' if nodes > 1 else ''}"
            kafka_env = cluster.client_env()
            base = base.model_copy(update={"kafka_bootstrap": cluster.bootstrap})
        return asyncio.run(_peers(base, count, candidates, broker, kafka_env, log_dir,
                                  timeout))
