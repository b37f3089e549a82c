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
from collections.abc import Iterator
from urllib.parse import urlsplit

from rich.console import Console

from pipeline.errors import CxoneRouterError
from pipeline.kafka.apache import KAFKA_VERSION, ApacheKafka
from pipeline.settings import Settings
from pipeline.stack import Stack

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
    from pipeline.cxone.fake.serve import FakeCxoneServer
    from pipeline.cxone.registration import register_edge
    from pipeline.cxone.settings import CxoneSettings

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
def local_prometheus(stack: Stack, wanted: bool, console: Console) -> Iterator[None]:
    """Prometheus on :9090 (or a free port) scraping this stack with the generated rules."""
    if not wanted:
        yield
        return
    from pipeline.kafka.embedded import free_port
    from pipeline.observability.prometheus import LocalPrometheus, PrometheusError
    from pipeline.observability.slo import load_slos

    port = DEFAULT_PROMETHEUS_PORT if port_is_free(DEFAULT_PROMETHEUS_PORT) else free_port()
    prometheus = LocalPrometheus(load_slos(stack.settings.schemas_dir),
                                 f"{stack.edge_admin_url}/metrics",
                                 list(stack.worker_metrics.values()),
                                 interval="5s", port=port)
    try:
        prometheus.start()
    except PrometheusError as exc:
        console.print(f"  prometheus: [yellow]not started[/]: {exc}")
        yield
        return
    console.print(f"  prometheus: {prometheus.url} (scrapes every 5 s, rules and alerts "
                  f"loaded: {prometheus.url}/alerts)")
    try:
        yield
    finally:
        prometheus.stop()


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
    from pipeline.signing import signer_for
    from pipeline.simulate.background import BackgroundSimulation
    from pipeline.simulate.profiles import Profile

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


def run_dev(settings: Settings, *, demo: bool, simulate_rate: float | None,
            console: Console, prometheus: bool = False, broker: str = "embedded",
            kafka_nodes: int = 1) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
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
              local_prometheus(stack, prometheus, console)):
            if demo:
                from pipeline.demo import demo as show_demo

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
