"""The whole pipeline as child processes: broker, topics, workers and edge.

`dev`, the integration tests and the benchmark start it the same way. Children run in
their own sessions (Ctrl-C reaches only the parent) and are stopped by process id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from cxone_router.errors import CxoneRouterError
from cxone_router.kafka.apache import ApacheKafka
from cxone_router.kafka.clients import Connection, record_limit
from cxone_router.kafka.embedded import EmbeddedBroker, free_port
from cxone_router.kafka.topics import Topics, ensure_topics
from cxone_router.mapping.spec import channel_names
from cxone_router.redaction import DEV_REDACTION_KEY
from cxone_router.routing import load_routes
from cxone_router.settings import ENV_PREFIX, Settings, load_settings


class StackError(CxoneRouterError):
    pass


BROKER_KINDS = ("embedded", "apache")


def topics_for(settings: Settings) -> Topics:
    """The pipeline's topics, named from the mapping files without compiling them (the
    worker compiles them once, when it starts)."""
    return Topics(settings.topic_prefix, channel_names(settings.schemas_dir / "mappings"),
                  tuple(r.name for r in load_routes(settings.schemas_dir)))


class Stack:
    """Starts and stops the parts; `env` holds CXR_* values for the children."""

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None,
                 quiet: bool = False, broker: str = "embedded", kafka_nodes: int = 1,
                 log_dir: Path | None = None) -> None:
        """`broker` is what to start when CXR_KAFKA_BOOTSTRAP is unset: the embedded
        broker, or Apache Kafka with `kafka_nodes` nodes (Java and Maven needed).
        `log_dir`: each child's output goes to `<name>.log` there (else to ours, or
        nowhere when `quiet`)."""
        if broker not in BROKER_KINDS:
            raise StackError(f"unknown broker {broker!r}: choose {' or '.join(BROKER_KINDS)}")
        self.settings = settings
        self.env = dict(env or {})
        self.quiet = quiet
        self.log_dir = log_dir
        self.broker_kind = broker if settings.embedded else "external"
        self.kafka_nodes = kafka_nodes
        self.broker: EmbeddedBroker | ApacheKafka | None = None
        self.bootstrap = settings.kafka_bootstrap or ""
        self.topics = topics_for(settings)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.edge_url = ""
        self.worker_metrics: dict[str, str] = {}  # worker name -> its /metrics URL

    @classmethod
    def from_env(cls, env: Mapping[str, str], **options: Any) -> Stack:
        """A Stack whose settings are these CXR_* values over the defaults; its children
        get the same values."""
        settings = load_settings(**{k[len(ENV_PREFIX):].lower(): v for k, v in env.items()})
        return cls(settings, env=env, **options)

    # broker and topics
    def start_broker(self) -> str:
        """Start (or restart, on the same ports and data) the broker this stack owns."""
        if self.broker_kind == "external":
            return self.bootstrap
        if self.broker is None:
            self.broker = (ApacheKafka(nodes=self.kafka_nodes) if self.broker_kind == "apache"
                           else EmbeddedBroker(port=self.settings.embedded_broker_port))
        self.broker.start()
        self.bootstrap = self.broker.bootstrap
        return self.bootstrap

    def stop_broker(self) -> None:
        if isinstance(self.broker, ApacheKafka):
            self.broker.remove()
            self.broker = None
        elif self.broker is not None:
            self.broker.stop()

    @property
    def replication_factor(self) -> int:
        if isinstance(self.broker, ApacheKafka) and \
                "replication_factor" not in self.settings.model_fields_set:
            return self.broker.replication_factor
        return self.settings.replication_factor

    @property
    def kafka(self) -> Connection:
        """How this stack's own clients (topics, tests, bench) reach its broker."""
        return Connection.of(self.settings, self.bootstrap)

    def ensure_topics(self) -> list[str]:
        return asyncio.run(ensure_topics(self.kafka, self.topics.all(),
                                         self.settings.partitions, self.replication_factor,
                                         record_limit(self.settings)))

    # processes
    def child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """What the children read: the settings that go with the broker this stack started
        (idempotence off on the embedded one…) and the dev-only redaction key, then the
        environment, then this stack's."""
        owned = self.broker.client_env() if self.broker else {}
        owned["CXR_REDACTION_KEY"] = DEV_REDACTION_KEY  # unless the environment has one
        if isinstance(self.broker, ApacheKafka):
            owned["CXR_REPLICATION_FACTOR"] = str(self.replication_factor)
        env = {**owned, **os.environ, **self.env, "CXR_KAFKA_BOOTSTRAP": self.bootstrap}
        env.update(extra or {})
        return env

    def spawn(self, name: str, args: list[str], extra: Mapping[str, str] | None = None) -> int:
        if name in self.processes and self.processes[name].poll() is None:
            raise StackError(f"{name} is already running")
        output: Any = subprocess.DEVNULL if self.quiet else None
        with contextlib.ExitStack() as files:
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                output = files.enter_context((self.log_dir / f"{name}.log").open("ab"))
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "cxone_router", *args], env=self.child_env(extra),
                stdout=output, stderr=subprocess.STDOUT if self.log_dir else output,
                start_new_session=True,
            )
        return self.processes[name].pid

    def start_worker(self, name: str = "worker", metrics_port: int | None = None,
                     extra: Mapping[str, str] | None = None) -> int:
        """Start a worker; its /metrics port is chosen here (0 = a free one) so that
        `worker_metrics` can say where it is."""
        port = metrics_port if metrics_port is not None else self.settings.metrics_port
        port = port or free_port(self.settings.metrics_host)
        self.worker_metrics[name] = f"http://{self.settings.metrics_host}:{port}/metrics"
        return self.spawn(name, ["worker"], {"CXR_METRICS_PORT": str(port), **(extra or {})})

    def start_edge(self, port: int | None = None,
                   extra: Mapping[str, str] | None = None) -> str:
        port = port if port is not None else self.settings.edge_port or free_port()
        self.spawn("edge", ["edge"], {"CXR_EDGE_PORT": str(port), **(extra or {})})
        self.edge_url = f"http://{self.settings.edge_host}:{port}"
        return self.edge_url

    @property
    def edge_admin_url(self) -> str:
        """Where the edge serves /readyz and /metrics: its admin port, when it has one."""
        s = self.settings
        if s.edge_admin_port is None:
            return self.edge_url
        return f"http://{s.edge_admin_host or s.edge_host}:{s.edge_admin_port}"

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Signal one child by pid and wait for it; SIGKILL when it does not stop in time."""
        proc = self.processes.pop(name, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def send_signal(self, name: str, sig: int) -> None:
        """Send `sig` to one running child (e.g. SIGSTOP, SIGCONT), by pid."""
        proc = self.processes.get(name)
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)

    def exited(self) -> str | None:
        return next((n for n, p in self.processes.items() if p.poll() is not None), None)

    def wait_edge_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (name := self.exited()) is not None:
                raise StackError(f"the {name} process exited during start-up; see its log")
            try:
                if httpx.get(f"{self.edge_admin_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise StackError(f"{self.edge_admin_url}/readyz was not ready within {timeout:.0f} s")

    def start_all(self, workers: int = 1) -> None:
        self.start_broker()
        self.ensure_topics()
        for i in range(workers):
            self.start_worker(
                "worker" if i == 0 else f"worker{i + 1}",
                self.settings.metrics_port + i if self.settings.metrics_port else 0,
            )
        self.start_edge()
        self.wait_edge_ready()

    def stop_all(self) -> None:
        for name in ["edge", *[n for n in self.processes if n != "edge"]]:
            self.stop(name)
        self.stop_broker()
