"""`cxone-router dev`: broker, topics, worker and edge in one command; Ctrl-C stops all.

Without `CXR_CXONE_INSTANCE`, a fake CXone runs beside it and the local edge is registered
with it, so the whole path from registration to topics can be seen on one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

from rich.console import Console

from cxone_router import devstack
from cxone_router.errors import CxoneRouterError
from cxone_router.kafka.apache import KAFKA_VERSION, ApacheKafka
from cxone_router.kafka.embedded import free_port
from cxone_router.redaction import DEV_REDACTION_KEY
from cxone_router.settings import Settings
from cxone_router.stack import Stack

DEFAULT_PROMETHEUS_PORT = 9090


class DevError(CxoneRouterError):
    pass


@contextlib.contextmanager
def fake_cxone_registration(edge_url: str, console: Console) -> Iterator[None]:
    if os.environ.get("CXR_CXONE_INSTANCE"):
        console.print("  CXone:     CXR_CXONE_INSTANCE is set; register a public URL with "
                      "`cxone-router webhooks register --url ...`")
        yield
        return
    from cxone_router.cxone.fake.serve import FakeCxoneServer
    from cxone_router.cxone.registration import register_edge
    from cxone_router.cxone.settings import CxoneSettings

    server = FakeCxoneServer()
    base_url = server.start()
    try:
        webhook_id = asyncio.run(register_edge(CxoneSettings.for_fake(base_url),
                                               f"{edge_url}/webhooks/cxone"))
        console.print(f"  CXone:     fake tenant at {base_url}; edge registered as webhook "
                      f"{webhook_id}")
        yield
    finally:
        server.stop()


@contextlib.contextmanager
def local_prometheus(stack: Stack, wanted: bool, console: Console) -> Iterator[str | None]:
    """Prometheus on :9090 (or a free port) scraping this stack with the generated rules;
    its URL."""
    if not wanted:
        yield None
        return
    from cxone_router.observability.prometheus import LocalPrometheus, PrometheusError
    from cxone_router.observability.slo import load_slos

    port = DEFAULT_PROMETHEUS_PORT if port_is_free(DEFAULT_PROMETHEUS_PORT) else free_port()
    prometheus = LocalPrometheus(load_slos(stack.settings.schemas_dir),
                                 f"{stack.edge_admin_url}/metrics",
                                 list(stack.worker_metrics.values()),
                                 interval="5s", port=port)
    try:
        prometheus.start()
    except PrometheusError as exc:
        console.print(f"  prometheus: [yellow]not started[/]: {exc}")
        yield None
        return
    console.print(f"  prometheus: {prometheus.url} (scrapes every 5 s, rules and alerts "
                  f"loaded: {prometheus.url}/alerts)")
    try:
        yield prometheus.url
    finally:
        prometheus.stop()


# The ports `dev` listens on by default, with what listens there: a default that is taken
# is replaced by a free port (said in one line); a port the environment names is kept (the
# edge's admin port has no default: only a named one is ever used).
PORTS = (("edge_port", "the edge"), ("metrics_port", "the worker's /metrics"),
         ("embedded_broker_port", "the embedded broker"))


def with_free_ports(settings: Settings, environ: Mapping[str, str],
                    console: Console) -> Settings:
    moved: dict[str, int] = {}
    for name, what in PORTS:
        port = getattr(settings, name)
        if not port or f"CXR_{name.upper()}" in environ or port_is_free(port):
            continue
        moved[name] = free_port()
        console.print(f"  port {port} is taken: {what} listens on {moved[name]} instead")
    return settings.model_copy(update=moved) if moved else settings


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def background_traffic(edge_url: str, rate: float | None, console: Console,
                       settings: Settings | None = None) -> Iterator[None]:
    if rate is None:
        yield
        return
    from cxone_router.signing import signer_for
    from cxone_router.simulate.background import BackgroundSimulation
    from cxone_router.simulate.profiles import Profile

    signer = signer_for(settings) if settings is not None else None  # as the edge checks
    simulation = BackgroundSimulation(f"{edge_url}/webhooks/cxone", Profile(rate=rate),
                                      signer=signer).start()
    console.print(f"  simulate:  posting about {rate:g} events/s until Ctrl-C")
    try:
        yield
    finally:
        summary = simulation.stop(timeout=15)
        if summary is not None:
            console.print(summary.to_text())


def describe_broker(stack: Stack) -> str:
    if isinstance(stack.broker, ApacheKafka):
        nodes = len(stack.broker.nodes)
        return (f"Apache Kafka {KAFKA_VERSION}, {nodes} node{'s' * (nodes > 1)}, "
                f"replication factor {stack.replication_factor}; logs in {stack.broker.folder}")
    return "embedded" if stack.broker else "external"


MAX_RESTARTS_PER_MINUTE = 3


def supervise(stack: Stack, stop: threading.Event, console: Console) -> None:
    """Until `stop`: restart a worker that exits, as a supervisor would (a worker exits
    non-zero on an error it cannot recover from; on the embedded broker that includes
    Faust's recovery check tripping over the broker's wrong end offsets). The edge exiting,
    or a worker exiting again and again, stops everything."""
    restarts: list[float] = []
    while not stop.is_set():
        name = stack.exited()
        if name is not None:
            code = stack.processes[name].returncode
            restarts = [t for t in restarts if t > time.monotonic() - 60] + [time.monotonic()]
            if not name.startswith("worker") or len(restarts) > MAX_RESTARTS_PER_MINUTE:
                raise DevError(f"the {name} process exited (code {code}); stopping everything")
            console.print(f"  [yellow]{name} exited (code {code}); restarting it[/]")
            port = urlsplit(stack.worker_metrics[name]).port
            stack.processes.pop(name)
            stack.start_worker(name, metrics_port=port)
        stop.wait(0.5)


def published(stack: Stack, prometheus_url: str | None = None) -> devstack.DevStack:
    """What the other commands need to find this stack (pipeline/devstack.py): its client
    settings (never a secret: the edge's secrets stay in the environment that has them)
    and its URLs."""
    s = stack.settings
    env = {**(stack.broker.client_env() if stack.broker else {}),
           "CXR_KAFKA_BOOTSTRAP": stack.bootstrap, "CXR_TOPIC_PREFIX": s.topic_prefix,
           "CXR_PARTITIONS": str(s.partitions), "CXR_EDGE_HOST": s.edge_host,
           "CXR_EDGE_PORT": str(urlsplit(stack.edge_url).port),
           "CXR_METRICS_HOST": s.metrics_host,
           "CXR_METRICS_PORT": str(urlsplit(stack.worker_metrics["worker"]).port)}
    if s.edge_admin_port:
        env["CXR_EDGE_ADMIN_PORT"] = str(s.edge_admin_port)
    if s.edge_auth != "none":
        env["CXR_EDGE_AUTH"] = s.edge_auth
    if s.redaction_key is None:  # the children hash with the published dev-only key
        env["CXR_REDACTION_KEY"] = DEV_REDACTION_KEY
    urls = {"webhook": f"{stack.edge_url}/webhooks/cxone",
            "edge_metrics": f"{stack.edge_admin_url}/metrics", **stack.worker_metrics}
    if prometheus_url:
        urls["prometheus"] = prometheus_url
    return devstack.DevStack(pid=os.getpid(), broker=stack.broker_kind, env=env, urls=urls)


@contextlib.contextmanager
def announced(stack: devstack.DevStack, console: Console) -> Iterator[None]:
    """Publish the stack for the other commands while it runs; print the same values for a
    shell that cannot read the file."""
    path = devstack.publish(stack)
    console.print(f"  commands in another shell find this stack by themselves ({path});\n"
                  f"  elsewhere, these values reach it:")
    for line in stack.export_lines():
        console.print(f"    {line}", highlight=False)
    try:
        yield
    finally:
        devstack.withdraw(stack.pid)


def refuse_a_second_stack() -> None:
    running = devstack.running()
    if running is not None:
        raise DevError(f"{running.describe()} is already running: every command finds it "
                       f"by itself; stop it (Ctrl-C there) before starting another")


def run_dev(settings: Settings, *, demo: bool, simulate_rate: float | None,
            console: Console, prometheus: bool = False, broker: str = "embedded",
            kafka_nodes: int = 1) -> None:
    refuse_a_second_stack()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    settings = with_free_ports(settings, os.environ, console)
    stack = Stack(settings, env={"CXR_LOG_FORMAT": settings.log_format}, broker=broker,
                  kafka_nodes=kafka_nodes)
    demo_failed = False
    try:
        if stack.broker_kind == "apache":
            console.print(f"starting Apache Kafka {KAFKA_VERSION} ({kafka_nodes} node"
                          f"{'s' * (kafka_nodes > 1)}; the first run fetches its jars)…")
        stack.start_all()
        console.print(
            f"[bold green]cxone-router is running[/]\n"
            f"  edge:      {stack.edge_url}/webhooks/cxone\n"
            f"  metrics:   {stack.edge_admin_url}/metrics (edge), "
            f"{', '.join(stack.worker_metrics.values())} (worker)\n"
            f"  bootstrap: {stack.bootstrap} ({describe_broker(stack)})\n"
            f"  topics:    {', '.join(stack.topics.all())}"
        )
        with (fake_cxone_registration(stack.edge_url, console),
              local_prometheus(stack, prometheus, console) as prometheus_url,
              announced(published(stack, prometheus_url), console)):
            if demo:
                from cxone_router.demo import demo as show_demo

                demo_failed = not show_demo(stack.edge_url, stack.kafka, stack.topics,
                                            settings=stack.settings, console=console)
            with background_traffic(stack.edge_url, simulate_rate, console, stack.settings):
                console.print("Serving; press Ctrl-C to stop.")
                supervise(stack, stop, console)
    finally:
        console.print("stopping…")
        stack.stop_all()
        console.print("stopped: no process left behind.")
    if demo_failed:  # it kept serving for a look around; the exit status still says so
        raise DevError("the demo's webhooks were not all answered and delivered as expected "
                       "(see its summary above)")
