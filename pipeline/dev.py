"""`cxone-router dev`: broker, topics, worker and edge in one command; Ctrl-C stops all."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from rich.console import Console

from pipeline.errors import CxoneRouterError
from pipeline.kafka.topics import Topics
from pipeline.settings import Settings
from pipeline.stack import Stack


class DevError(CxoneRouterError):
    pass


def run_dev(settings: Settings, *, demo: bool, console: Console,
            after_start: Callable[[str, str, Topics], None] | None = None) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack = Stack(settings, env={"CXR_LOG_FORMAT": settings.log_format})
    try:
        stack.start_all()
        console.print(
            f"[bold green]cxone-router is running[/]\n"
            f"  edge:      {stack.edge_url}/webhooks/cxone\n"
            f"  metrics:   {stack.edge_url}/metrics (edge), "
            f"http://{settings.edge_host}:{settings.metrics_port}/metrics (worker)\n"
            f"  bootstrap: {stack.bootstrap} ({'embedded' if stack.broker else 'external'})\n"
            f"  topics:    {', '.join(stack.topics.all())}"
        )
        if after_start is not None:
            after_start(stack.edge_url, stack.bootstrap, stack.topics)
        if demo:
            from pipeline.demo import demo as show_demo

            show_demo(stack.edge_url, stack.bootstrap, stack.topics)
        console.print("Serving; press Ctrl-C to stop.")
        while not stop.is_set():
            if (name := stack.exited()) is not None:
                raise DevError(f"the {name} process exited; stopping everything")
            stop.wait(0.5)
    finally:
        console.print("stopping…")
        stack.stop_all()
        console.print("stopped: no process left behind.")
