"""`cxone-router dev`: broker, topics, worker and edge in one command; Ctrl-C stops all."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable

import httpx
from rich.console import Console

from pipeline.errors import CxoneRouterError
from pipeline.kafka.embedded import EmbeddedBroker
from pipeline.kafka.topics import Topics, ensure_topics
from pipeline.mapping import Normalizer
from pipeline.routing import load_routes
from pipeline.settings import Settings
from pipeline.supervisor import Supervisor


class DevError(CxoneRouterError):
    pass


def topics_for(settings: Settings) -> Topics:
    channels = Normalizer.from_dir(settings.schemas_dir).channels
    routes = tuple(r.name for r in load_routes(settings.schemas_dir))
    return Topics(settings.topic_prefix, channels, routes)


def wait_ready(url: str, timeout: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise DevError("a process exited during start-up; see its log above")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise DevError(f"{url} was not ready within {timeout:.0f} s")


def run_dev(settings: Settings, *, demo: bool, console: Console,
            after_start: Callable[[str, str, Topics], None] | None = None) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    broker: EmbeddedBroker | None = None
    supervisor = Supervisor()
    try:
        if settings.kafka_bootstrap:
            bootstrap = settings.kafka_bootstrap
        else:
            broker = EmbeddedBroker(port=settings.embedded_broker_port).start()
            bootstrap = broker.bootstrap
        topics = topics_for(settings)
        created = asyncio.run(ensure_topics(bootstrap, topics.all(), settings.partitions,
                                            settings.replication_factor))
        env = {"CXR_KAFKA_BOOTSTRAP": bootstrap, "CXR_LOG_FORMAT": settings.log_format}
        if settings.kafka_idempotence is None:
            env["CXR_KAFKA_IDEMPOTENCE"] = str(settings.idempotence).lower()
        supervisor.spawn("worker", ["worker"], env)
        supervisor.spawn("edge", ["edge"], env)
        edge_url = f"http://{settings.edge_host}:{settings.edge_port}"
        wait_ready(f"{edge_url}/readyz", 60, lambda: supervisor.exited() is None)
        console.print(f"[bold green]cxone-router is running[/]\n"
                      f"  edge:      {edge_url}/webhooks/cxone\n"
                      f"  metrics:   {edge_url}/metrics (edge), "
                      f"http://{settings.edge_host}:{settings.metrics_port}/metrics (worker)\n"
                      f"  bootstrap: {bootstrap} ({'embedded' if broker else 'external'})\n"
                      f"  topics:    {len(topics.all())} ({len(created)} created now)")
        if after_start is not None:
            after_start(edge_url, bootstrap, topics)
        if demo:
            from pipeline.demo import demo as show_demo

            show_demo(edge_url, bootstrap, topics)
        console.print("Serving; press Ctrl-C to stop.")
        while not stop.is_set():
            if (name := supervisor.exited()) is not None:
                raise DevError(f"the {name} process exited; stopping everything")
            stop.wait(0.5)
    finally:
        console.print("stopping…")
        supervisor.stop_all()
        if broker is not None:
            broker.stop()
        console.print("stopped.")
