"""How the other commands find a running `cxone-router dev`: a file it writes once its
stack is up and removes when it stops.

The file holds the stack's client settings (`CXR_*` values: bootstrap, what its broker can
serve, ports) and URLs, never a secret. `tail`, `topics`, `dlq`, `reprocess`, `status`,
`sign` and `simulate` read it when `CXR_KAFKA_BOOTSTRAP` is not set; a variable set in the
environment still wins over the file's value. A file whose process is gone is ignored.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

FILE_NAME = "dev-stack.json"


def stack_file() -> Path:
    """`$XDG_STATE_HOME/cxone-router/dev-stack.json` (`~/.local/state/...` by default):
    one per user, whatever folder a command runs from."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "cxone-router" / FILE_NAME


def _started(pid: int) -> str | None:
    """When a process started (Linux: clock ticks since boot), so that a pid reused by an
    unrelated process after a crash is not taken for `dev`."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive, and not ours to check further
    return started is None or _started(pid) == started


@dataclass(frozen=True)
class DevStack:
    """A running `dev`: its process, its broker kind, the `CXR_*` values its clients need
    and where its parts answer (name -> URL)."""

    pid: int
    broker: str
    env: dict[str, str]
    urls: dict[str, str] = field(default_factory=dict)
    started: str | None = None

    def overrides(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Settings (field name -> value) from the file that the environment leaves unset."""
        return {name[len("CXR_"):].lower(): value for name, value in self.env.items()
                if name not in environ}

    def export_lines(self) -> list[str]:
        """The same values as `export` lines, for a shell or a tool that cannot read the
        file (another machine, a container, kcat)."""
        return [f"export {name}={value}" for name, value in sorted(self.env.items())]

    def describe(self) -> str:
        return (f"the running `cxone-router dev` (pid {self.pid}, {self.broker} broker at "
                f"{self.env.get('CXR_KAFKA_BOOTSTRAP', '?')})")


def publish(stack: DevStack) -> Path:
    """Write the file (owner-only, atomically: a reader never sees half of it)."""
    path = stack_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    started = stack.started or _started(stack.pid)
    body = orjson.dumps({"pid": stack.pid, "started": started, "broker": stack.broker,
                         "env": stack.env, "urls": stack.urls}, option=orjson.OPT_INDENT_2)
    temporary = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(body)
    os.replace(temporary, path)
    return path


def withdraw(pid: int) -> None:
    """Remove the file if it is this process's (a later `dev` may have replaced it)."""
    found = running()
    if found is not None and found.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            stack_file().unlink()


def running() -> DevStack | None:
    """The dev stack whose process is alive, or None (no file, a stale or unreadable one)."""
    try:
        data = orjson.loads(stack_file().read_bytes())
        stack = DevStack(pid=int(data["pid"]), broker=str(data["broker"]),
                         env={str(k): str(v) for k, v in data["env"].items()},
                         urls={str(k): str(v) for k, v in data.get("urls", {}).items()},
                         started=data.get("started"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return stack if _alive(stack.pid, stack.started) else None


_said: set[int] = set()


def discovered_overrides(environ: Mapping[str, str] | None = None,
                         say: bool = True) -> dict[str, str]:
    """What a command takes from a running dev stack: nothing when the environment names
    a cluster (`CXR_KAFKA_BOOTSTRAP`) or no stack runs. Says so on stderr, once."""
    environ = os.environ if environ is None else environ
    if "CXR_KAFKA_BOOTSTRAP" in environ:
        return {}
    stack = running()
    if stack is None:
        return {}
    if say and stack.pid not in _said:
        _said.add(stack.pid)
        print(f"using {stack.describe()}", file=sys.stderr)
    return stack.overrides(environ)
