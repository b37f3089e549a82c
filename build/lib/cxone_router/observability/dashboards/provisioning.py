"""Grafana provisioning: the Prometheus data source and a provider for the dashboards."""

from __future__ import annotations

from typing import Any

from cxone_router.observability.dashboards.common import PROVISIONED_DATASOURCE, TAG
from cxone_router.observability.rules import HEADER, to_yaml

DATASOURCE_FILE = "grafana/provisioning/datasources/cxr-prometheus.yml"
PROVIDER_FILE = "grafana/provisioning/dashboards/cxr.yml"
DASHBOARDS_PATH = "/var/lib/grafana/dashboards/cxr"
PROMETHEUS_URL = "http://localhost:9090"
SCRAPE_INTERVAL = "15s"  # the example Prometheus configuration's; sizes $__rate_interval


def datasources() -> dict[str, Any]:
    name, uid = PROVISIONED_DATASOURCE
    return {"apiVersion": 1, "datasources": [{
        "name": name, "uid": uid, "type": "prometheus", "access": "proxy",
        "url": PROMETHEUS_URL, "editable": False,
        "jsonData": {"timeInterval": SCRAPE_INTERVAL},
    }]}


def providers() -> dict[str, Any]:
    return {"apiVersion": 1, "providers": [{
        "name": TAG, "orgId": 1, "folder": TAG, "type": "file",
        "disableDeletion": False, "allowUiUpdates": False, "updateIntervalSeconds": 30,
        "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": False},
    }]}


def files() -> dict[str, str]:
    return {
        DATASOURCE_FILE: to_yaml(datasources(), HEADER + (
            f"# Prometheus at {PROMETHEUS_URL}; the dashboards select it by uid.\n")),
        PROVIDER_FILE: to_yaml(providers(), HEADER + (
            f"# Copy or mount grafana/dashboards at {DASHBOARDS_PATH} in the Grafana "
            "container.\n")),
    }
