"""A local Prometheus: scrapes a running stack with the generated rules loaded.

`cxone-router dev --prometheus` and the live test start it the same way. Prometheus is
not a Python package: it comes from the system (Debian's `prometheus` package gives both
`prometheus` and `promtool`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from cxone_router.errors import CxoneRouterError
from cxone_router.kafka.embedded import free_port
from cxone_router.observability import rules
from cxone_router.observability.generate import prometheus_config
from cxone_router.observability.slo import SloFile

INSTALL_HINT = ("install Prometheus: `sudo apt-get install prometheus` on Debian or Ubuntu "
                "(it gives `prometheus` and `promtool`), or put the binaries from "
                "https://prometheus.io/download/ on the PATH")


class PrometheusError(CxoneRouterError):
    """Prometheus is missing, did not start, or a query failed."""


def find_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PrometheusError(f"`{name}` is not installed: {INSTALL_HINT}")
    return found


def _host_port(url: str) -> str:
    return urlsplit(url).netloc


def launch(name: str, command: list[str], log_path: Path, url: str,
           timeout: float) -> subprocess.Popen[bytes]:
    """Start one of Prometheus' servers (`name` for errors) and wait until `url`/-/ready
    answers; stopped again, saying why, when it does not within `timeout`."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrometheusError(f"{name} exited at start-up: {log_tail(log_path)}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    terminate(process, None)
    raise PrometheusError(f"{name} was not ready within {timeout:.0f} s")


def terminate(process: subprocess.Popen[bytes] | None, folder: Path | None) -> None:
    """Stop it by its process id (SIGTERM, SIGKILL after 15 s); remove its folder."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class LocalPrometheus:
    """One Prometheus process on loopback, its data and config in a temporary folder."""

    slo_file: SloFile
    edge_metrics: str
    worker_metrics: list[str]
    interval: str = "1s"
    port: int = 0
    alertmanagers: list[str] = field(default_factory=list)  # URLs alerts are sent to
    rules_document: dict[str, Any] | None = None  # instead of the SLO file's rules
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    folder: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        assert self.folder is not None
        return self.folder / "prometheus.log"

    def start(self, timeout: float = 30.0) -> LocalPrometheus:
        binary = find_binary("prometheus")
        self.port = self.port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="cxr-prometheus-"))
        rules_path = self.folder / "cxr-rules.yml"
        document = self.rules_document or rules.rules(self.slo_file)
        rules_path.write_text(rules.to_yaml(document, ""))
        config = prometheus_config(
            self.slo_file, [_host_port(self.edge_metrics)],
            [_host_port(u) for u in self.worker_metrics], [str(rules_path)], self.interval,
            [_host_port(u) for u in self.alertmanagers])
        config_path = self.folder / "prometheus.yml"
        config_path.write_text(rules.to_yaml(config, ""))
        # Alerts evaluated before the Alertmanager is discovered are dropped, and sent again
        # only after the resend delay (1 m by default): one interval here.
        resend = [f"--rules.alert.resend-delay={self.interval}"] if self.alertmanagers else []
        try:
            self.process = launch(
                "prometheus",
                [binary, f"--config.file={config_path}",
                 f"--storage.tsdb.path={self.folder / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", *resend],
                self.log_path, self.url, timeout)
        except PrometheusError:
            terminate(None, self.folder)
            raise
        return self

    def stop(self) -> None:
        terminate(self.process, self.folder)

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.log_path, lines)

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('error', response.text)}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
