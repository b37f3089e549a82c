"""What every process's metrics share: a registry of its own, buckets, serving.

Each process exports only its own families (the edge its own, each worker its own), plus
the standard process, platform and GC collectors and `cxr_build_info`. Names follow
Prometheus conventions (`cxr_` prefix, `_seconds`, `_total`).
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Gauge,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.utils import floatToGoString

from cxone_router.errors import ConfigurationError

Role = Literal["edge", "worker"]

# From 0.5 ms (an idle edge) to 5 min (a group join on a slow cluster): the SLA cares
# about 1 ms-1 s, and the first events after a rebalance take 1-10 s. Every SLO threshold
# is added at start-up, so each is a bucket bound exactly.
BASE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def latency_buckets(thresholds: Iterable[float] = ()) -> tuple[float, ...]:
    return tuple(sorted(set(BASE_BUCKETS) | {float(t) for t in thresholds}))


def le(bound: float) -> str:
    """A bucket bound as the `le` label prometheus_client writes (1 -> "1.0")."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


def package_version() -> str:
    try:
        return version("cxone-router")
    except PackageNotFoundError:
        return "unknown"


def new_registry(role: Role) -> CollectorRegistry:
    """A registry holding only this process's families, with the standard collectors."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series: they double the series for nothing
    registry = CollectorRegistry(auto_describe=True)
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    Gauge("cxr_build_info", "Always 1; the labels say what runs", ["version", "role"],
          registry=registry).labels(package_version(), role).set(1)
    return registry


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> int:
    """Serve `registry` on http://host:port/metrics in a thread; return the port (0 = any
    free one). A busy port is an operator's mistake: one clear line, no traceback."""
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"CXR_METRICS_PORT: {host}:{port} is already in use (another worker on this "
                f"host?); give each worker its own port, or 0 for any free port") from None
        raise ConfigurationError(f"CXR_METRICS_PORT: cannot listen on {host}:{port}: "
                                 f"{exc.strerror}") from None
    bound: int = server.server_address[1]
    return bound
