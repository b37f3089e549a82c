"""The transform alone: what one raw record costs the worker before any Kafka write.

The same objects the worker builds (agents/app.py `create_app`): the `Normalizer`, the
routes, the `Fanout` with its redaction plans and the `EventOutputs`, run in one process on
the bench's traffic (`pipeline.bench.traffic.webhooks`) with the headers the edge writes.
Per event, as `agents/ingest.py` does it: decode the body by its content type, the
idempotency keys and the dedup key, then `EventOutputs.build` (normalize, serialize,
headers, fan-out with each route's redaction). Neither the Faust table nor Kafka.

The total is the median of several timed passes over all events after a warm-up pass. The
breakdown times each stage alone, a pass per stage over the same events with its inputs
prepared beforehand, so its parts add up to about the total, not exactly.

    cxone-router bench --transform [--events N]
    python -m cxone_router.bench.transform --events 20000 --repeats 5 [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cxone_router.agents.dedup import DedupIndex
from cxone_router.agents.fanout import Fanout
from cxone_router.agents.outputs import EventOutputs, decode_raw
from cxone_router.bench.traffic import webhooks
from cxone_router.kafka.headers import CONTENT_TYPE, MAPPING_VERSION, RECEIVED_NS, received_ns
from cxone_router.kafka.topics import Topics
from cxone_router.mapping import Normalizer
from cxone_router.redaction import DEV_REDACTION_KEY, RedactionPlan
from cxone_router.routing import load_routes
from cxone_router.settings import REPO_ROOT

PARTITIONS = 6  # the bench's raw topic; only the dedup key's prefix depends on it
MAX_FORM_FIELDS = 200  # Settings.max_form_fields' default


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A raw-topic record as the worker reads it: value, headers, partition."""

    value: bytes
    headers: dict[str, bytes]
    partition: int


def raw_records(count: int, seed: int = 1, schemas_dir: Path = REPO_ROOT / "schemas"
                ) -> list[RawRecord]:
    """`count` bench webhooks as the edge writes them to the raw topic (`content-type`,
    `cxr-received-ns`), each on the partition its key would go to."""
    base_ns = time.time_ns()
    return [
        RawRecord(w.body, {CONTENT_TYPE: w.content_type.encode(),
                           RECEIVED_NS: str(base_ns + i * 1000).encode()},
                  zlib.crc32(w.key) % PARTITIONS)
        for i, w in enumerate(webhooks(count, seed=seed, schemas_dir=schemas_dir))
    ]


class Transform:
    """The worker's transform objects, built as `create_app` builds them."""

    def __init__(self, schemas_dir: Path = REPO_ROOT / "schemas", prefix: str = "bench",
                 redaction_key: bytes = DEV_REDACTION_KEY.encode(),
                 max_form_fields: int = MAX_FORM_FIELDS) -> None:
        self.normalizer = Normalizer.from_dir(schemas_dir)
        self.routes = load_routes(schemas_dir)
        topics = Topics.of(prefix, self.normalizer, self.routes)
        self.fanout = Fanout(self.routes, {r.name: topics.fanout(r.name) for r in self.routes},
                             redaction_key)
        self.outputs = EventOutputs(self.normalizer,
                                    {c: topics.channel(c) for c in self.normalizer.channels},
                                    self.fanout)
        self.redaction_key = redaction_key
        self.max_form_fields = max_form_fields

    def run(self, record: RawRecord) -> tuple[str, Any]:
        """One event, as `Ingest._process` handles a new one: its dedup key and outputs."""
        payload = decode_raw(record.value, record.headers, self.max_form_fields,
                             self.normalizer.form_names)
        keys = self.normalizer.keys(payload)
        dedup_key = DedupIndex.key(record.partition, keys.idempotency_key)
        _, outputs = self.outputs.build(payload, record.headers, keys)
        return dedup_key, outputs


@dataclass
class TransformResult:
    events: int
    repeats: int
    us_per_event: float  # median of the timed passes
    us_per_event_min: float
    us_per_event_max: float
    stages: dict[str, float] = field(default_factory=dict)  # µs per event, medians
    outputs_per_event: float = 0.0
    machine: dict[str, Any] = field(default_factory=dict)


def _pass_us(fn: Callable[[], Any], events: int) -> float:
    start = time.process_time_ns()
    fn()
    return (time.process_time_ns() - start) / 1000 / events


def _stage_passes(t: Transform, records: Sequence[RawRecord]
                  ) -> dict[str, Callable[[], Any]]:
    """One function per stage, each a pass over every event with its inputs ready."""
    normalizer, fanout, outputs = t.normalizer, t.fanout, t.outputs
    payloads = [decode_raw(r.value, r.headers, t.max_form_fields, normalizer.form_names)
                for r in records]
    keys = [normalizer.keys(p) for p in payloads]
    received = [received_ns(r.headers) or 0 for r in records]
    normalized = [normalizer.normalize(p, ns, k) for p, ns, k in zip(payloads, received, keys,
                                                                      strict=True)]
    serialized = [(n["interactionId"].encode(), orjson.dumps(n)) for n in normalized]
    tail = [(CONTENT_TYPE, b"application/json"),
            (MAPPING_VERSION, normalizer.mapping_version.encode())]
    forwarded = [[*((k, v) for k, v in r.headers.items() if k != CONTENT_TYPE), *tail]
                 for r in records]
    routes = t.routes

    def decode() -> None:
        mff = t.max_form_fields
        for r in records:
            decode_raw(r.value, r.headers, mff)

    def keys_() -> None:
        dedup_key = DedupIndex.key
        for r, p in zip(records, payloads, strict=True):
            dedup_key(r.partition, normalizer.keys(p).idempotency_key)

    def normalize() -> None:
        for p, ns, k in zip(payloads, received, keys, strict=True):
            normalizer.normalize(p, ns, k)

    def serialize() -> None:
        dumps = orjson.dumps
        for n in normalized:
            n["interactionId"].encode()
            dumps(n)

    def headers() -> None:
        for r in records:
            out = [(k, v) for k, v in r.headers.items() if k != CONTENT_TYPE]
            out.extend(tail)

    def route_filters() -> None:
        for n in normalized:
            for route in routes:
                route.matches(n)

    def fanout_all() -> None:
        for n, (key, value), h in zip(normalized, serialized, forwarded, strict=True):
            fanout.outputs(n, key, value, h)

    def build() -> None:
        for p, r, k in zip(payloads, records, keys, strict=True):
            outputs.build(p, r.headers, k)

    passes: dict[str, Callable[[], Any]] = {
        "decode": decode, "keys": keys_, "normalize": normalize,
        "serialization": serialize, "headers": headers, "routes (filters)": route_filters,
    }
    # each distinct redaction once, on the records of the routes that use it (routes that
    # redact alike share one plan and its serialized record, as the fan-out does)
    plans: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for route in routes:
        if route.redact:
            plans.setdefault(route.redact, []).append(route.name)
    for redact, names in plans.items():
        plan = RedactionPlan(redact, t.redaction_key)
        users = [r for r in routes if r.redact == redact]
        todo = [(n, value) for n, (_, value) in zip(normalized, serialized, strict=True)
                if any(r.matches(n) for r in users)]

        def redaction(plan: RedactionPlan = plan,
                      todo: list[tuple[dict[str, Any], bytes]] = todo) -> None:
            for n, value in todo:
                plan.apply(n, value)

        passes[f"redaction {'+'.join(names)} ({len(todo) / len(records):.2f}/event)"] = \
            redaction
    passes["fan-out whole (routes + redactions + outputs)"] = fanout_all
    passes["EventOutputs.build whole"] = build
    return passes


def machine() -> dict[str, Any]:
    import os

    return {"python": platform.python_version(), "implementation":
            platform.python_implementation(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "machine": platform.machine()}


def run(events: int = 20_000, repeats: int = 5, seed: int = 1,
        schemas_dir: Path = REPO_ROOT / "schemas", stages: bool = True) -> TransformResult:
    """Time the transform over `events` bench events: a warm-up pass, then `repeats`."""
    records = raw_records(events, seed, schemas_dir)
    t = Transform(schemas_dir)
    produced = 0
    for r in records:  # warm-up, and a check that every event goes through
        produced += len(t.run(r)[1])
    gc.collect()
    gc.freeze()  # as the worker does once started: the inputs are start-up objects here

    def whole() -> None:
        run_one = t.run
        for r in records:
            run_one(r)

    totals = [_pass_us(whole, len(records)) for _ in range(repeats)]
    result = TransformResult(
        events=len(records), repeats=repeats,
        us_per_event=round(statistics.median(totals), 2),
        us_per_event_min=round(min(totals), 2), us_per_event_max=round(max(totals), 2),
        outputs_per_event=round(produced / len(records), 3), machine=machine())
    if stages:
        passes = _stage_passes(t, records)
        times: dict[str, list[float]] = {name: [] for name in passes}
        for _ in range(repeats):  # interleaved, so that noise spreads over every stage
            for name, fn in passes.items():
                times[name].append(_pass_us(fn, len(records)))
        result.stages = {name: round(statistics.median(v), 2) for name, v in times.items()}
    gc.unfreeze()
    return result


def render(result: TransformResult) -> str:
    lines = [
        f"transform: {result.events:,} events, median of {result.repeats} passes "
        f"(Python {result.machine.get('python')}, {result.machine.get('cpus')} CPUs)",
        f"  per event: {result.us_per_event:.1f} µs "
        f"(passes {result.us_per_event_min:.1f} to {result.us_per_event_max:.1f} µs); "
        f"{result.outputs_per_event:.2f} outputs per event",
    ]
    if result.stages:
        lines.append("  stages alone, µs per event:")
        width = max(len(name) for name in result.stages)
        lines += [f"    {name:<{width}}  {us:7.2f}" for name, us in result.stages.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cxone_router.bench.transform",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-stages", action="store_true", help="the total only")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = run(args.events, args.repeats, args.seed, stages=not args.no_stages)
    print(render(result))
    if args.json:
        args.json.write_bytes(orjson.dumps(asdict(result), option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
