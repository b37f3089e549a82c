"""The Grafana dashboards, generated as code with grafana-foundation-sdk from the SLO file.

- `sla`: cxone-router / SLA overview (throughput, latency, error budgets, burn rates, SLIs);
- `detail`: cxone-router / pipeline detail (edge, flow, hops, lag, quality, workers);
- `provisioning`: the Prometheus data source and the dashboard provider for Grafana.
"""

from __future__ import annotations

from typing import Any

from cxone_router.observability.dashboards import detail, provisioning, sla
from cxone_router.observability.dashboards.common import to_dict, to_json
from cxone_router.observability.slo import SloFile

DASHBOARDS_DIR = "grafana/dashboards"


def dashboards(slo_file: SloFile) -> list[dict[str, Any]]:
    """Both dashboards as JSON documents (plain dicts)."""
    return [to_dict(sla.dashboard(slo_file)), to_dict(detail.dashboard(slo_file))]


def files(slo_file: SloFile) -> dict[str, str]:
    """Path relative to the repository root -> file content (text, ending in a newline)."""
    out = {f"{DASHBOARDS_DIR}/{d['uid']}.json": to_json(d) for d in dashboards(slo_file)}
    out.update(provisioning.files())
    return out

