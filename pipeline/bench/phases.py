"""The benchmark's phases. Each starts the parts it needs with `Stack` and stops them."""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import TopicPartition

from cxone_router.bench.traffic import Webhook, webhooks
from cxone_router.kafka.embedded import free_port
from cxone_router.kafka.reader import TopicReader
from cxone_router.quantiles import quantile
from cxone_router.settings import Settings
from cxone_router.stack import Stack


def new_stack(base: Settings, **env: str) -> Stack:
    values = {
        "CXR_TOPIC_PREFIX": f"bench{int(time.time() * 1000) % 10**8}",
        "CXR_EDGE_PORT": str(free_port()),
        "CXR_METRICS_PORT": str(free_port()),
        "CXR_EMBEDDED_BROKER_PORT": "0",
        "CXR_LOG_LEVEL": "warning",
        "CXR_EDGE_RATE_LIMIT": "0",
        **env,
    }
    if base.kafka_bootstrap:
        values["CXR_KAFKA_BOOTSTRAP"] = base.kafka_bootstrap
    return Stack.from_env(values, quiet=True)


# ---- 1. the edge alone ---------------------------------------------------------------


@dataclass
class EdgeResult:
    connections: int
    seconds: float
    accepted_per_second: float
    p50_ms: float
    p99_ms: float
    non_202: dict[str, int]
    loadgen_cpu_share: float  # of one core: well below 1.0 = the generator had room to spare


def run_loadgen(stack: Stack, bodies: list[Webhook], seconds: float, connections: int,
                rate: float = 0.0) -> dict[str, Any]:
    """Run `pipeline.bench.loadgen` against the stack's edge in its own process; it gets
    the stack's environment, so it signs as the edge checks (CXR_EDGE_AUTH)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as file:
        file.write(orjson.dumps([(w.body.decode("latin-1"), w.content_type) for w in bodies]))
    host, port = stack.settings.edge_host, stack.edge_url.rsplit(":", 1)[1]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cxone_router.bench.loadgen", host, port, "/webhooks/cxone",
             str(seconds), str(connections), file.name, str(rate)],
            capture_output=True, env=stack.child_env(),
        )
    finally:
        Path(file.name).unlink()
    if done.returncode:
        raise RuntimeError(f"load generator failed: {done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def edge_phase(base: Settings, seconds: float, connections: int) -> EdgeResult:
    stack = new_stack(base)
    try:
        stack.start_broker()
        stack.ensure_topics()
        stack.start_edge()
        stack.wait_edge_ready()
        bodies = webhooks(2_000, seed=11)
        run_loadgen(stack, bodies, min(2.0, seconds), connections)  # warm-up
        result = run_loadgen(stack, bodies, seconds, connections)
    finally:
        stack.stop_all()
    statuses = {str(k): v for k, v in result["statuses"].items()}
    latencies = [ns / 1e6 for ns in result["latencies_ns"]]
    return EdgeResult(
        connections=connections, seconds=round(result["seconds"], 2),
        accepted_per_second=round(statuses.get("202", 0) / result["seconds"], 1),
        p50_ms=round(quantile(latencies, 0.50), 2), p99_ms=round(quantile(latencies, 0.99), 2),
        non_202={k: v for k, v in statuses.items() if k != "202"},
        loadgen_cpu_share=round(result["cpu_seconds"] / result["seconds"], 2),
    )


# ---- 2 and 3. the pipeline: raw topic to the last fan-out write -----------------------


async def _produce(stack: Stack, events: list[Webhook]) -> None:
    producer = stack.kafka.producer(acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(stack.topics.raw, w.body, key=w.key, headers=[
                ("content-type", w.content_type.encode()),
                ("cxr-received-ns", str(time.time_ns()).encode())])
            for w in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _count(stack: Stack, topics: list[str]) -> tuple[int, int, int]:
    """Records on `topics` and their first and last timestamps (ms)."""
    async with TopicReader(stack.kafka, topics) as reader:
        records = await reader.read_to_end(300)
    stamps = [r.timestamp for r in records]
    return len(records), min(stamps, default=0), max(stamps, default=0)


@dataclass
class PipelineResult:
    workers: int
    events: int
    events_per_second: float
    seconds: float
    # CPU per 1,000 events (group join included): with both at 2 cores' worth, more worker
    # processes cannot go faster on this machine
    worker_cpu_ms_per_1k: float
    broker_cpu_ms_per_1k: float


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, threads included (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _pipeline(base: Settings, events: list[Webhook], workers: int,
                    timeout: float) -> PipelineResult:
    stack = new_stack(base)
    try:
        await asyncio.to_thread(stack.start_broker)
        await asyncio.to_thread(stack.ensure_topics)
        await _produce(stack, events)
        broker_pids = stack.broker.pids if stack.broker else []
        broker_before = sum(_cpu_seconds(pid) for pid in broker_pids)
        pids = [stack.start_worker(f"worker{i}", metrics_port=0) for i in range(workers)]
        channels = [stack.topics.channel(c) for c in stack.topics.channels]
        analytics = [stack.topics.fanout("analytics")]
        deadline = time.monotonic() + timeout
        while (done := await _count(stack, analytics))[0] < len(events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {done[0]} of {len(events)} events reached fan-out")
            await asyncio.sleep(0.5)
        worker_cpu = sum(_cpu_seconds(pid) for pid in pids)
        broker_cpu = sum(_cpu_seconds(pid) for pid in broker_pids) - broker_before
        _, first_consumed, _ = await _count(stack, channels)
        seconds = (done[2] - first_consumed) / 1000  # from the first write: no group join
        per_1k = 1e6 / len(events)  # CPU seconds -> ms per 1,000 events
        return PipelineResult(workers, len(events), round(len(events) / seconds, 1),
                              round(seconds, 2), round(worker_cpu * per_1k, 1),
                              round(broker_cpu * per_1k, 1))
    finally:
        await asyncio.to_thread(stack.stop_all)


def pipeline_phase(base: Settings, count: int, workers: int) -> PipelineResult:
    return asyncio.run(_pipeline(base, webhooks(count, seed=23), workers,
                                 timeout=60 + count / 500))


# ---- end-to-end latency at a fixed offered rate -----------------------------------------


async def _warm_up(stack: Stack) -> None:
    from cxone_router.samples import brief
    from cxone_router.signing import sign

    body = orjson.dumps(brief("interaction.created", "bench-warm-up", "chat"))
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{stack.edge_url}/webhooks/cxone", content=body,
                                     headers={"content-type": "application/json",
                                              **sign(stack.settings, body)})
    response.raise_for_status()
    async with TopicReader(stack.kafka, [stack.topics.fanout("analytics")]) as reader:
        await reader.read_until(lambda records: bool(records), timeout=120)


@dataclass
class LatencyResult:
    offered_per_second: float
    seconds: float
    accepted: int  # 202s from the edge
    events: int  # of those, analytics records read back (all of them, or some were lost)
    p50_ms: float
    p95_ms: float
    p99_ms: float


async def _read_back(stack: Stack, accepted: int) -> list[Any]:
    """The analytics records once more than `accepted` are there (+ the warm-up event), or
    what is there after 120 s."""
    deadline = time.monotonic() + 120
    while True:
        async with TopicReader(stack.kafka, [stack.topics.fanout("analytics")]) as reader:
            records = await reader.read_to_end(120)
        if len(records) > accepted or time.monotonic() > deadline:
            return [r for r in records if r.key != b"bench-warm-up"]
        await asyncio.sleep(0.5)


async def _watch(stack: Stack, seen: list[tuple[float, Any]], stop: asyncio.Event) -> None:
    """Read the analytics topic as a downstream consumer does (read_committed, a short
    fetch wait), noting when each record arrives, until `stop`."""
    topic = stack.topics.fanout("analytics")
    consumer = stack.kafka.consumer(group_id=None, enable_auto_commit=False,
                                    fetch_max_wait_ms=10)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(stack.settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=50)
            now = time.time()
            seen.extend((now, r) for records in batch.values() for r in records)
    finally:
        await consumer.stop()


async def _latency(base: Settings, rate: float, seconds: float) -> LatencyResult:
    """End to end as downstream sees it: from the edge's receive time to the moment a
    read_committed consumer of the analytics topic got the record (with exactly once, a
    record is visible once its transaction committed)."""
    bodies = webhooks(int(rate * seconds * 1.1) + 100, seed=5)  # every request distinct
    stack = new_stack(base)
    seen: list[tuple[float, Any]] = []
    stop = asyncio.Event()
    try:
        await asyncio.to_thread(stack.start_all)
        await _warm_up(stack)  # the worker's start and group join are not latency
        watcher = asyncio.create_task(_watch(stack, seen, stop))
        sent = await asyncio.to_thread(run_loadgen, stack, bodies, seconds, 32, rate)
        accepted = sent["statuses"].get("202", 0)
        deadline = time.monotonic() + 120
        while len(seen) <= accepted and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # the watcher's list: + the warm-up event
        stop.set()
        await watcher
    finally:
        await asyncio.to_thread(stack.stop_all)
    latencies = [at * 1000 - int(dict(r.headers)["cxr-received-ns"]) / 1e6
                 for at, r in seen if r.key != b"bench-warm-up"]
    return LatencyResult(
        rate, seconds, accepted, len(latencies),
        round(quantile(latencies, 0.50), 1), round(quantile(latencies, 0.95), 1),
        round(quantile(latencies, 0.99), 1),
    )


def latency_phase(base: Settings, rate: float, seconds: float) -> LatencyResult:
    return asyncio.run(_latency(base, rate, seconds))


# ---- the whole stack, as `cxone-router dev` runs it --------------------------------------


@dataclass
class StackResult:
    connections: int
    seconds: float
    accepted_per_second: float  # at the edge, with the worker on the same cores
    p50_ms: float
    p99_ms: float
    events_per_second: float  # first edge receive to last fan-out write
    missing: int  # accepted but not on fan-out (must be 0)


async def _whole_stack(base: Settings, seconds: float, connections: int) -> StackResult:
    bodies = webhooks(int(seconds * 10_000), seed=9)  # more distinct events than it takes
    stack = new_stack(base)
    try:
        await asyncio.to_thread(stack.start_all)
        await _warm_up(stack)
        sent = await asyncio.to_thread(run_loadgen, stack, bodies, seconds, connections)
        accepted = sent["statuses"].get("202", 0)
        records = await _read_back(stack, min(accepted, len(bodies)))
    finally:
        await asyncio.to_thread(stack.stop_all)
    first_received = min(int(dict(r.headers)["cxr-received-ns"]) for r in records) / 1e6
    span = (max(r.timestamp for r in records) - first_received) / 1000
    latencies = [ns / 1e6 for ns in sent["latencies_ns"]]
    return StackResult(
        connections, round(sent["seconds"], 2), round(accepted / sent["seconds"], 1),
        round(quantile(latencies, 0.50), 2), round(quantile(latencies, 0.99), 2),
        round(len(records) / span, 1), min(accepted, len(bodies)) - len(records),
    )


def whole_stack_phase(base: Settings, seconds: float, connections: int) -> StackResult:
    return asyncio.run(_whole_stack(base, seconds, connections))


# ---- memory after N distinct dedup keys ----------------------------------------------------


@dataclass
class MemoryResult:
    dedup_keys: int
    worker_rss_mib: float
    rss_before_mib: float


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _metric(url: str, name: str) -> float:
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def _memory(base: Settings, keys: int) -> MemoryResult:
    stack = new_stack(base, CXR_DEDUP_TTL_SECONDS="86400")
    try:
        await asyncio.to_thread(stack.start_broker)
        await asyncio.to_thread(stack.ensure_topics)
        pid = stack.start_worker("worker", metrics_port=stack.settings.metrics_port)
        await asyncio.sleep(5)
        before = _rss_mib(pid)
        batch = 50_000
        for start in range(0, keys, batch):  # small distinct events, in slices to bound memory
            await _produce(stack, [
                Webhook(orjson.dumps({"eventId": f"mem-{i}", "eventType": "MessageCreated",
                                      "data": {"id": f"int-{i % 5000}", "channelType": "chat"}}),
                        "application/json", f"int-{i % 5000}".encode())
                for i in range(start, min(keys, start + batch))
            ])
        url = f"http://{stack.settings.edge_host}:{stack.settings.metrics_port}/metrics"
        deadline = time.monotonic() + 120 + keys / 1000
        while _metric(url, "cxr_dedup_keys") < keys:
            if time.monotonic() > deadline:
                raise TimeoutError("the worker did not hold every key in time")
            await asyncio.sleep(1)
        return MemoryResult(keys, _rss_mib(pid), before)
    finally:
        await asyncio.to_thread(stack.stop_all)


def memory_phase(base: Settings, keys: int) -> MemoryResult:
    return asyncio.run(_memory(base, keys))


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {"cpus": os.cpu_count(), "cpu_model": model,
            "memory_gib": round(mem_kib / 1024**2, 1), "python": platform.python_version(),
            "kernel": platform.release()}

