"""`cxone-router observability generate`: the SLO file -> rules, alerts, dashboards.

The generated files are committed; `--check` (and a test) fails when they differ from
what the SLO file and this code generate now.
"""

from __future__ import annotations

from pathlib import Path

from cxone_router.observability import dashboards, rules
from cxone_router.observability.rules import HEADER
from cxone_router.observability.slo import SloFile

PROMETHEUS_CONFIG = "compose/prometheus/prometheus.yml"


def prometheus_config(slo_file: SloFile, edge: list[str], workers: list[str],
                      rule_files: list[str], interval: str = "15s",
                      alertmanagers: list[str] | None = None) -> dict[str, object]:
    """A Prometheus configuration scraping the edge and workers with the rules loaded,
    sending alerts to `alertmanagers` (host:port) when given."""
    config: dict[str, object] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": rule_files,
    }
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [
            {"targets": alertmanagers}]}]}
    config["scrape_configs"] = [
        {"job_name": slo_file.scrape.edge_job, "static_configs": [{"targets": edge}]},
        {"job_name": slo_file.scrape.worker_job, "static_configs": [{"targets": workers}]},
    ]
    return config


def generated(slo_file: SloFile) -> dict[str, str]:
    """Every generated file: path relative to the repository -> content."""
    files = rules.files(slo_file, HEADER)
    example = prometheus_config(slo_file, ["127.0.0.1:8080"], ["127.0.0.1:9102"],
                                [Path(rules.RULES_FILE).name])
    files[PROMETHEUS_CONFIG] = rules.to_yaml(
        example, HEADER + "# Scrapes `make run`'s edge and worker on their default ports:\n"
        "#   prometheus --config.file=compose/prometheus/prometheus.yml\n")
    files.update(dashboards.files(slo_file))
    return files


def stale(root: Path, files: dict[str, str]) -> list[str]:
    """Generated files that are missing under `root` or differ from `files`."""
    out = []
    for relative, content in sorted(files.items()):
        path = root / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            out.append(relative)
    return out


def write(root: Path, files: dict[str, str]) -> list[str]:
    """Write what changed; return the paths written."""
    changed = stale(root, files)
    for relative in changed:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[relative], encoding="utf-8")
    return changed
