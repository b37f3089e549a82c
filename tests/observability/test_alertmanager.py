"""compose/alertmanager/alertmanager.yml against the generated rules: every alert is routed
by its severity, every alert an inhibition names exists, and compose runs it with
Prometheus sending to it. `amtool` (from the same package) checks and routes it for real.

Invariant: a page reaches the pager receiver and a ticket the tickets receiver; a ticket is
held back only by a page of the same alert (and SLO, channel), symptoms only by their cause.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cxone_router.observability import rules
from cxone_router.observability.alertmanager import CONFIG_FILE
from cxone_router.observability.prometheus import PrometheusError
from cxone_router.observability.slo import load_slos

SLOS = load_slos(Path("schemas"))
ALERTS = [r for g in rules.rules(SLOS)["groups"] for r in g["rules"] if "alert" in r]
CONFIG: dict[str, Any] = yaml.safe_load(Path(CONFIG_FILE).read_text())


@pytest.fixture(scope="module")
def amtool() -> str:
    found = shutil.which("amtool")
    if found is None:
        raise PrometheusError("`amtool` is not installed: sudo apt-get install "
                              "prometheus-alertmanager")
    return found


def test_amtool_accepts_the_configuration(amtool: str) -> None:
    done = subprocess.run([amtool, "check-config", CONFIG_FILE], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def route(amtool: str, labels: dict[str, str]) -> str:
    done = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={CONFIG_FILE}",
         *(f"{k}={v}" for k, v in labels.items())], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_every_alert_reaches_the_receiver_of_its_severity(amtool: str) -> None:
    receivers = {r["name"] for r in CONFIG["receivers"]}
    assert receivers == {"pager", "tickets"}
    for alert in ALERTS:
        labels = {"alertname": alert["alert"], **alert["labels"]}
        expected = "pager" if labels["severity"] == "page" else "tickets"
        assert route(amtool, labels) == expected, labels


def test_notifications_are_grouped_per_alert_not_per_partition_or_worker() -> None:
    group_by = CONFIG["route"]["group_by"]
    assert "alertname" in group_by
    assert not {"partition", "instance"} & set(group_by)


def _names(matchers: list[str]) -> set[str]:
    names: set[str] = set()
    for matcher in matchers:
        found = re.fullmatch(r'alertname(=~?)"([^"]+)"', matcher)
        if found:
            names |= set(found[2].split("|"))
    return names


def test_inhibitions_name_real_alerts_and_hold_tickets_behind_pages() -> None:
    known = {a["alert"] for a in ALERTS}
    for rule in CONFIG["inhibit_rules"]:
        named = _names(rule["source_matchers"]) | _names(rule["target_matchers"])
        assert named <= known, named - known
    pages_over_tickets = [r for r in CONFIG["inhibit_rules"]
                          if r["source_matchers"] == ['severity="page"']]
    assert pages_over_tickets == [{"source_matchers": ['severity="page"'],
                                   "target_matchers": ['severity="ticket"'],
                                   "equal": ["alertname", "slo", "channel"]}]


def test_compose_runs_alertmanager_and_prometheus_sends_to_it() -> None:
    compose = yaml.safe_load(Path("compose/docker-compose.yml").read_text())
    service = compose["services"]["alertmanager"]
    assert "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in \
        service["volumes"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in service["command"]
    assert service["ports"] == ["127.0.0.1:9093:9093"]
    prometheus = yaml.safe_load(Path("compose/prometheus/prometheus-compose.yml").read_text())
    targets = [t for a in prometheus["alerting"]["alertmanagers"]
               for s in a["static_configs"] for t in s["targets"]]
    assert targets == ["alertmanager:9093"]
