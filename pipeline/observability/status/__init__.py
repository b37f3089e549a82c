"""`cxone-router status`: the pipeline on one screen, from the edge's and workers' /metrics.

For SREs without Grafana: `window` computes rates and percentiles between two scrapes,
`figures` the screen's numbers, `screen` draws them, `command` is the CLI.
"""

from __future__ import annotations

from cxone_router.observability.status.command import status_command
from cxone_router.observability.status.figures import Status, figures
from cxone_router.observability.status.screen import render
from cxone_router.observability.status.window import (
    Snapshot,
    Thresholds,
    histogram_quantile,
    increase,
    rates,
    window_buckets,
)

__all__ = ["Snapshot", "Status", "Thresholds", "figures", "histogram_quantile", "increase",
           "rates", "render", "status_command", "window_buckets"]
