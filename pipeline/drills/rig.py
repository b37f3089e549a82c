"""The system under a drill: an edge and workers on an Apache Kafka cluster, with a
supervisor that restarts a worker which exits on its own (as systemd or Kubernetes would),
counting each restart and the worker's last words."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path

import httpx

from cxone_router.kafka.apache import ApacheKafka
from cxone_router.kafka.embedded import free_port
from cxone_router.observability.scrape import parse
from cxone_router.stack import Stack


class Rig:
    def __init__(self, cluster: ApacheKafka, name: str, workers: int, log_dir: Path,
                 settings: dict[str, str] | None = None) -> None:
        self.cluster = cluster
        self.workers = [f"worker{i + 1}" for i in range(workers)]
        values = {
            "CXR_TOPIC_PREFIX": f"drill-{name}-{uuid.uuid4().hex[:6]}",
            "CXR_PARTITIONS": "6",
            "CXR_EDGE_PORT": str(free_port()),
            "CXR_LOG_FORMAT": "json",
            "CXR_LOG_LEVEL": "warning",
            **cluster.client_env(),
            **(settings or {}),
        }
        self.stack = Stack.from_env(values, log_dir=log_dir / name)
        self.lock = threading.RLock()  # the drill and the supervisor both start and stop
        self.restarts: list[str] = []
        self._supervising = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)

    @property
    def guarantee(self) -> str:
        return "exactly_once" if self.stack.settings.exactly_once else "at_least_once"

    @property
    def url(self) -> str:
        return f"{self.stack.edge_url}/webhooks/cxone"

    def start(self) -> Rig:
        with self.lock:
            self.stack.ensure_topics()
            for name in self.workers:
                self.start_worker(name)
            self.stack.start_edge()
        self.stack.wait_edge_ready()
        self.wait_group(len(self.workers), timeout=90)
        self._supervising.set()
        self._supervisor.start()
        return self

    def stop(self) -> None:
        self._supervising.clear()
        with self.lock:
            for name in ["edge", *self.workers]:
                self.stack.stop(name)

    def start_worker(self, name: str) -> None:
        """With static membership asked for, each worker keeps its own id across restarts."""
        static = self.stack.env.get("CXR_GROUP_INSTANCE_ID")
        extra = {"CXR_GROUP_INSTANCE_ID": f"{static}-{name}"} if static else {}
        self.stack.start_worker(name, metrics_port=0, extra=extra)

    def wait_group(self, members: int, timeout: float) -> float:
        """Wait until every worker holds partitions of the raw topic; return the time it
        took."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if sum(1 for n in self.workers if self.assigned(n) > 0) >= members:
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"{members} workers did not all get partitions in {timeout:.0f} s")

    def assigned(self, name: str) -> float:
        return sum(self._samples(name, "cxr_worker_assigned_partitions"))

    def wait_writing(self, name: str, timeout: float = 60) -> None:
        """Wait until the worker handles events (its cxr_events_total grows): a fault meant
        to hit its open transactions must not land while it still recovers its table (on a
        busy machine, seconds after it got its partitions)."""
        before = sum(self._samples(name, "cxr_events_total"))
        deadline = time.monotonic() + timeout
        while sum(self._samples(name, "cxr_events_total")) <= before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} handled no event in {timeout:.0f} s")
            time.sleep(0.05)

    def _samples(self, name: str, metric: str) -> list[float]:
        url = self.stack.worker_metrics.get(name)
        try:
            page = httpx.get(url, timeout=1).text if url else ""
        except httpx.HTTPError:
            return []
        return [s.value for s in parse(page) if s.name == metric]

    def raw_leaders(self) -> dict[int, int]:
        """Partition of the raw topic -> the node leading it."""
        async def ask() -> dict[int, int]:
            admin = self.stack.kafka.admin()
            await admin.start()
            try:
                (topic,) = await admin.describe_topics([self.stack.topics.raw])
                return {p["partition"]: p["leader"] for p in topic["partitions"]}
            finally:
                await admin.close()

        return asyncio.run(ask())

    def _supervise(self) -> None:
        while self._supervising.is_set():
            with self.lock:
                for name in self.workers:
                    process = self.stack.processes.get(name)
                    if process is not None and process.poll() is not None:
                        self.restarts.append(f"{name} exited {process.returncode}: "
                                             f"{self._last_line(name)}")
                        self.stack.processes.pop(name)
                        self.start_worker(name)
            time.sleep(0.5)

    def _last_line(self, name: str) -> str:
        log = self.stack.log_dir / f"{name}.log" if self.stack.log_dir else None
        if log is None or not log.exists():
            return ""
        lines = log.read_text(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else ""
