"""Run drills on a three-node Apache Kafka cluster: each on its own topics, with an edge and
two workers under paced traffic; count from the topics; report."""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from cxone_router.drills.figures import Figures, fanout_copies, figures, raw_bodies, read_outputs
from cxone_router.drills.rig import Rig
from cxone_router.drills.scenarios import BY_NAME, Drill, Plan
from cxone_router.drills.traffic import RETRY, Accepted, DrillTraffic, TrafficLog
from cxone_router.kafka.apache import KAFKA_VERSION, ApacheKafka
from cxone_router.simulate.errors import answer_error

Say = Callable[[str], None]
# The failover tuning the drills run with (README, Production): a killed worker is noticed
# after 3 s. The local cluster lets consumers go down to 2 s (group.min.session.timeout.ms).
TUNED = {"CXR_SESSION_TIMEOUT_SECONDS": "3"}


def run_drills(drills: Sequence[Drill], plan: Plan, folder: Path, say: Say,
               settings: dict[str, str] | None = None) -> list[Figures]:
    """`folder` keeps the brokers' and processes' logs; `settings` are CXR_* values for
    the edge and workers (e.g. the session timeout being tuned)."""
    results = []
    with ApacheKafka(nodes=3, folder=folder / "kafka") as cluster:
        say(f"Apache Kafka {KAFKA_VERSION}: 3 nodes at {cluster.bootstrap}")
        for drill in drills:
            results.append(run_drill(cluster, drill, plan, folder, say, settings))
    return results


def run_drill(cluster: ApacheKafka, drill: Drill, plan: Plan, folder: Path, say: Say,
              settings: dict[str, str] | None = None) -> Figures:
    say(f"[{drill.name}] {drill.describe(plan)}: starting an edge and {plan.workers} "
        "workers")
    rig = Rig(cluster, drill.name, plan.workers, folder,
              {**TUNED, **dict(drill.settings), **(settings or {})}).start()
    try:
        traffic = DrillTraffic(rig.url, plan.rate).start()
        say(f"[{drill.name}] {plan.rate:g} events/s; fault in {plan.warmup:g} s")
        time.sleep(plan.warmup)
        fault_at = time.time()
        warm = fault_at - plan.warmup / 2  # the figures' window: the steady state before
        drill.fault(rig, plan)
        say(f"[{drill.name}] recovery action done after {time.time() - fault_at:.1f} s; "
            f"{plan.settle:g} s more traffic")
        time.sleep(plan.settle)
        log = traffic.stop(drain=60)
        sent_until = time.time()
        checks: dict[str, object] = {}
        redelivered = _redeliver(rig, log, fault_at, plan.redeliveries) if drill.redeliver \
            else []
        say(f"[{drill.name}] {len(log.accepted)} accepted; reading the topics from offset 0")
        topics = rig.stack.topics
        outputs, dead = asyncio.run(read_outputs(
            rig.stack.kafka, [topics.channel(c) for c in topics.channels], topics.dlq,
            {a.event_id for a in log.accepted}, timeout=180))
        result = figures(drill.name, log, outputs, dead, (warm, sent_until), fault_at)
        channels = [topics.channel(c) for c in topics.channels]
        fanned = asyncio.run(fanout_copies(rig.stack.kafka, channels,
                                           [topics.fanout(r) for r in topics.routes],
                                           len(outputs)))
        checks["fanout_duplicates"] = fanned.duplicates
        checks["aborted_records"] = fanned.aborted
        checks["processing_guarantee"] = rig.guarantee
        if redelivered:
            copies = Counter(o.event_id for o in outputs)
            checks["redelivered"] = len(redelivered)
            checks["redelivered_emitted_again"] = sum(copies[i] - 1 for i in redelivered)
        if drill.check_raw:
            on_raw = asyncio.run(raw_bodies(rig.stack.kafka, topics.raw))
            checks["accepted_not_on_raw"] = sum(1 for a in log.accepted if a.body not in on_raw)
        result.supervisor_restarts = len(rig.restarts)
        if rig.restarts:
            checks["restarts"] = rig.restarts
        result.checks = checks
        say(f"[{drill.name}] lost {result.lost}, duplicates {result.duplicates} (fan-out "
            f"{fanned.duplicates}), aborted writes {fanned.aborted}, longest gap "
            f"{result.longest_gap_s} s, recovered in {result.recovery_s} s")
        return result
    finally:
        rig.stop()


def _redeliver(rig: Rig, log: TrafficLog, before: float, count: int) -> list[str]:
    """Post again `count` events accepted before `before`; return the ids of those
    answered 202 (within a minute, retried as the traffic is), which the dedup table, back
    from its changelog, must drop."""
    earlier = [a for a in log.accepted if a.at < before][:count]
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=10) as client:
        return [event.event_id for event in earlier
                if _post_until_answered(client, rig.url, event, deadline)]


def _post_until_answered(client: httpx.Client, url: str, event: Accepted,
                         deadline: float) -> bool:
    """True once the edge answers 202; False on a final answer or when out of time."""
    attempt = 0
    while True:
        try:
            answer = client.post(url, content=event.body,
                                 headers={"content-type": event.content_type})
        except httpx.TransportError as exc:
            error: Exception = exc
        else:
            if answer.status_code == 202:
                return True
            error = answer_error(answer)
        wait = RETRY.delay_for(error, attempt, deadline=deadline)
        if wait is None:
            return False
        attempt += 1
        time.sleep(wait)


def markdown(results: Sequence[Figures], plan: Plan, command: str) -> str:
    """RELIABILITY.md's tables: one row per drill, then the notes per drill."""
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, "
        f"Apache Kafka {KAFKA_VERSION} (3 KRaft nodes on loopback), "
        f"{time.strftime('%Y-%m-%d')}  ",
        f"Traffic: {plan.rate:g} distinct events/s, 32 senders retrying 408/425/429/5xx "
        f"and refused connections (after Retry-After); {plan.warmup:g} s before the fault, "
        f"{plan.settle:g} s after the recovery action; {plan.workers} workers, 6 partitions, "
        f"RF 3, min ISR 2.",
        "",
        "| drill | accepted | lost | duplicates | e2e p50 ms | e2e p99 ms | e2e max ms "
        "| longest gap s | recovery s | longest without 202 s | retries | restarts |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.drill} | {r.accepted} | {r.lost} | {r.duplicates} | {r.p50_ms} "
                     f"| {r.p99_ms} | {r.max_ms} | {r.longest_gap_s} | {r.recovery_s} "
                     f"| {r.longest_without_202_s} | {r.retries} | {r.supervisor_restarts} |")
    lines.append("")
    for r in results:
        extra = ", ".join(f"{k}: {v}" for k, v in r.checks.items())
        lines.append(f"- **{r.drill}** ({BY_NAME[r.drill].describe(plan)}): answers "
                     f"{r.statuses}" + (f"; {extra}" if extra else ""))
    return "\n".join(lines) + "\n"
