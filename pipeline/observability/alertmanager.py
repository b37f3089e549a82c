"""A local Alertmanager with the compose deployment's configuration, for the live test.

Like Prometheus it is not a Python package: Debian's `prometheus-alertmanager` installs it
as `prometheus-alertmanager`, the upstream release as `alertmanager`.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from cxone_router.kafka.embedded import free_port
from cxone_router.observability.prometheus import PrometheusError, launch, log_tail, terminate

CONFIG_FILE = "compose/alertmanager/alertmanager.yml"
BINARIES = ("alertmanager", "prometheus-alertmanager")
INSTALL_HINT = ("install Alertmanager: `sudo apt-get install prometheus-alertmanager` on "
                "Debian or Ubuntu, or put the binary from https://prometheus.io/download/ "
                "on the PATH")


def find_alertmanager() -> str:
    for name in BINARIES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise PrometheusError(f"`alertmanager` is not installed: {INSTALL_HINT}")


def with_webhook(config: dict[str, Any], url: str, wait: str = "1s") -> dict[str, Any]:
    """`config` with every receiver also posting to `url` (a test's listener) and every
    route's waits shortened to `wait`; routes, grouping and inhibitions stay as they are."""
    changed = copy.deepcopy(config)
    for receiver in changed["receivers"]:
        receiver["webhook_configs"] = [{"url": url, "send_resolved": False}]

    def shorten(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval"):
            if key in route or route is changed["route"]:
                route[key] = wait
        for child in route.get("routes", []):
            shorten(child)
    shorten(changed["route"])
    return changed


@dataclass
class LocalAlertmanager:
    """One Alertmanager process on loopback, its data in a temporary folder."""

    config: dict[str, Any]
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    folder: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> LocalAlertmanager:
        binary = find_alertmanager()
        self.port = self.port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="cxr-alertmanager-"))
        config_path = self.folder / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        try:
            self.process = launch(
                "alertmanager",
                [binary, f"--config.file={config_path}",
                 f"--storage.path={self.folder / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 # no peers: a cluster of one, listening nowhere
                 "--cluster.listen-address="],
                self.log_path, self.url, timeout)
        except PrometheusError:
            terminate(None, self.folder)
            raise
        return self

    @property
    def log_path(self) -> Path:
        assert self.folder is not None
        return self.folder / "alertmanager.log"

    def stop(self) -> None:
        terminate(self.process, self.folder)

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.log_path, lines)

    def alerts(self) -> list[dict[str, Any]]:
        """What it received (API v2), active and held back alike, with their state."""
        response = httpx.get(f"{self.url}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def __enter__(self) -> LocalAlertmanager:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
