"""The fault drills. Each fault returns once its recovery action is done (the process
restarted, the broker resumed); traffic runs throughout. Each drill has its targets
(RELIABILITY.md, "Verdicts")."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from cxone_router.drills.rig import Rig
from cxone_router.drills.verdicts import Targets


@dataclass(frozen=True)
class Plan:
    rate: float = 500.0  # distinct events/s, over all channels and shapes
    warmup: float = 10.0  # seconds of traffic before the fault
    settle: float = 20.0  # seconds of traffic after the recovery action
    worker_down: float = 5.0
    broker_down: float = 10.0
    paused: float = 10.0
    workers: int = 2
    redeliveries: int = 100  # drill 4: events from before the restart, posted again
    worker_paused: float = 12.0  # longer than the drills' session timeout (3 s) and then some


SHORT = Plan(rate=100.0, warmup=3.0, settle=4.0, worker_down=2.0, broker_down=3.0,
             paused=3.0, redeliveries=20, worker_paused=8.0)


def kill_worker(rig: Rig, plan: Plan) -> None:
    rig.wait_writing(rig.workers[-1])
    with rig.lock:
        rig.stack.stop(rig.workers[-1], signal.SIGKILL)
    time.sleep(plan.worker_down)
    with rig.lock:
        rig.start_worker(rig.workers[-1])


def pause_worker(rig: Rig, plan: Plan) -> None:
    """A zombie: the group gives its partitions away while it sleeps; when it wakes, the
    new owners' transactional producers have fenced it."""
    rig.wait_writing(rig.workers[-1])
    with rig.lock:
        rig.stack.send_signal(rig.workers[-1], signal.SIGSTOP)
    time.sleep(plan.worker_paused)
    with rig.lock:
        rig.stack.send_signal(rig.workers[-1], signal.SIGCONT)


def kill_raw_leader(rig: Rig, plan: Plan) -> None:
    node = rig.raw_leaders()[0]
    rig.cluster.signal_node(node, signal.SIGKILL)
    time.sleep(plan.broker_down)
    rig.cluster.start_node(node)


def pause_raw_leader(rig: Rig, plan: Plan) -> None:
    node = rig.raw_leaders()[1]
    rig.cluster.signal_node(node, signal.SIGSTOP)
    time.sleep(plan.paused)
    rig.cluster.signal_node(node, signal.SIGCONT)


def restart_cluster(rig: Rig, plan: Plan) -> None:
    rig.cluster.stop()
    rig.cluster.start()


def rolling_restart_workers(rig: Rig, plan: Plan) -> None:
    for name in rig.workers:
        with rig.lock:
            rig.stack.stop(name, signal.SIGTERM)
            rig.start_worker(name)
        rig.wait_group(len(rig.workers), timeout=90)


EDGE_DOWN = 2.0  # seconds


def kill_edge(rig: Rig, plan: Plan) -> None:
    port = int(rig.stack.edge_url.rsplit(":", 1)[1])
    with rig.lock:
        rig.stack.stop("edge", signal.SIGKILL)
    time.sleep(EDGE_DOWN)
    with rig.lock:
        rig.stack.start_edge(port)
    rig.stack.wait_edge_ready()


@dataclass(frozen=True)
class Drill:
    name: str
    title: str  # what the fault does, with the plan's timings as {fields} of Plan
    fault: Callable[[Rig, Plan], None]
    targets: Targets
    redeliver: bool = False  # re-post events accepted before the fault; none may come out
    check_raw: bool = False  # every 202 must be on the raw topic
    # exactly once: the fault must hit a worker's open transaction (aborted writes seen);
    # with the default 0.1 s commits a kill can fall between two transactions, so these
    # drills hold their transactions open for seconds
    aborts: bool = False
    settings: tuple[tuple[str, str], ...] = ()  # CXR_* values of this drill's processes

    def describe(self, plan: Plan) -> str:
        """The title with this plan's timings (--short's are shorter)."""
        return self.title.format(**asdict(plan), edge_down=EDGE_DOWN)


# Longest-gap targets: what the fault itself must cost (a session timeout, a leader's
# election, three JVMs' restart) with room for this 2-core machine; measured gaps are in
# RELIABILITY.md.
DRILLS = [
    Drill("worker-kill", "kill -9 a worker, restart it {worker_down:g} s later", kill_worker,
          Targets(gap_s=10)),
    Drill("worker-kill-mid-transaction",
          "kill -9 a worker holding 5 s of writes in its open transactions, restart it "
          "{worker_down:g} s later", kill_worker, Targets(gap_s=20), aborts=True,
          settings=(("CXR_WORKER_COMMIT_INTERVAL_SECONDS", "5"),)),
    Drill("worker-pause", "SIGSTOP a worker holding 2 s of writes in its open transactions "
          "for {worker_paused:g} s, past its session timeout, then SIGCONT: its partitions "
          "moved and it is fenced", pause_worker, Targets(gap_s=15), aborts=True,
          settings=(("CXR_WORKER_COMMIT_INTERVAL_SECONDS", "2"),)),
    Drill("broker-kill", "kill -9 the broker leading raw partition 0, restart it "
          "{broker_down:g} s later", kill_raw_leader, Targets(gap_s=15)),
    Drill("broker-pause", "SIGSTOP the broker leading raw partition 1 for {paused:g} s, then "
          "SIGCONT", pause_raw_leader, Targets(gap_s=15)),
    Drill("cluster-restart", "stop all three brokers, start them again (data on disk); then "
          "post again {redeliveries} events accepted before", restart_cluster,
          Targets(gap_s=60), redeliver=True),
    Drill("rolling-restart", "SIGTERM each worker in turn, waiting until it is back",
          rolling_restart_workers, Targets(gap_s=15)),
    Drill("edge-kill", "kill -9 the edge with requests in flight, restart it {edge_down:g} s "
          "later", kill_edge, Targets(gap_s=10), check_raw=True),
]
BY_NAME = {d.name: d for d in DRILLS}
