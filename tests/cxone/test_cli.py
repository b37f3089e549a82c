"""`cxone-router webhooks` and `fake-cxone`: outputs and exit codes a script can rely on."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cxone_router.cli import app
from tests.cxone.helpers import FakeCxone
from tests.waiting import wait_until

EDGE = "https://edge.example.com/webhooks/cxone"


@pytest.fixture
def env(fake: FakeCxone) -> dict[str, str]:
    return {
        "CXR_CXONE_INSTANCE": fake.base_url,
        "CXR_CXONE_CLIENT_ID": "fake-client",
        "CXR_CXONE_CLIENT_SECRET": "fake-client-secret",
        "CXR_CXONE_BACKOFF_BASE_SECONDS": "0.01",
        "CXR_CXONE_MAX_RETRIES": "1",
    }


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_register_ends_with_the_id_whether_created_or_existing(env: dict[str, str]) -> None:
    code, out, err = run(env, "webhooks", "register", "--url", EDGE)
    assert code == 0, err
    created_id = out.strip().splitlines()[-1]
    code, out, err = run(
        env, "webhooks", "register", "--url", EDGE, "--events", "interaction.created"
    )
    assert code == 0
    assert out.strip().splitlines()[-1] == created_id
    assert "already registered" in err

    code, out, _ = run(env, "webhooks", "list")
    assert code == 0
    assert out.split("\t")[:2] == [created_id, EDGE]

    code, out, _ = run(env, "webhooks", "delete", created_id)
    assert (code, out.strip()) == (0, f"deleted {created_id}")
    code, _, err = run(env, "webhooks", "delete", created_id)
    assert code == 7
    assert "webhooks list" in err


def test_events_can_be_repeated_or_comma_separated(env: dict[str, str], fake: FakeCxone) -> None:
    code, _, _ = run(
        env, "webhooks", "register", "--url", EDGE,
        "--events", "interaction.created,interaction.updated", "--event", "interaction.created",
    )
    assert code == 0
    code, out, _ = run(env, "webhooks", "list", "--json")
    assert '"interaction.created",\n      "interaction.updated"\n' in out


def test_wrong_credentials_exit_3_and_name_the_settings(env: dict[str, str]) -> None:
    code, out, err = run({**env, "CXR_CXONE_CLIENT_SECRET": "wrong"}, "webhooks", "list")
    assert (code, out) == (3, "")
    assert "CXR_CXONE_CLIENT_SECRET" in err
    assert "wrong" not in err.replace("what to do", "")


def test_missing_scope_exits_4_and_names_it(env: dict[str, str], fake: FakeCxone) -> None:
    fake.faults(refuse_scope="webhooks:write")
    code, _, err = run(env, "webhooks", "register", "--url", EDGE)
    assert code == 4
    assert "webhooks:write" in err


def test_rate_limited_after_retries_exits_5_with_advice(
    env: dict[str, str], fake: FakeCxone
) -> None:
    fake.faults(rate_limit={"count": 100, "retry_after": "0"})
    code, _, err = run(env, "webhooks", "list")
    assert code == 5
    assert "rate limit" in err and "wait" in err


def test_cxone_failing_exits_6(env: dict[str, str], fake: FakeCxone) -> None:
    fake.faults(fail={"count": 100, "status": 503})
    code, _, err = run(env, "webhooks", "list")
    assert code == 6
    assert "503" in err


def test_missing_or_bad_settings_exit_2_naming_the_variable(env: dict[str, str]) -> None:
    code, _, err = run({**env, "CXR_CXONE_INSTANCE": ""}, "webhooks", "list")
    assert code == 2 and "CXR_CXONE_INSTANCE" in err
    code, _, err = run({**env, "CXR_CXONE_BURST": "many"}, "webhooks", "list")
    assert code == 2 and "CXR_CXONE_BURST" in err
    code, _, _ = run(env, "webhooks", "register", "--url", "edge.example.com")
    assert code == 2


@pytest.mark.parametrize(
    "command", [[], ["webhooks"], ["webhooks", "register"], ["webhooks", "list"],
                ["webhooks", "delete"], ["fake-cxone"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def test_fake_cxone_command_serves_a_tenant_the_cli_can_register_with() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    executable = Path(sys.executable).with_name("cxone-router")
    server = subprocess.Popen(
        [str(executable), "fake-cxone", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        def discovered() -> httpx.Response | None:
            try:
                return httpx.get(f"{base_url}/.well-known/openid-configuration")
            except httpx.TransportError:
                assert server.poll() is None, "fake-cxone exited"
                return None

        discovery = wait_until(discovered, "fake-cxone starts", timeout=30, every=0.05)
        assert discovery.json()["token_endpoint"] == f"{base_url}/auth/token"
        env = {
            "CXR_CXONE_INSTANCE": base_url,
            "CXR_CXONE_CLIENT_ID": "fake-client",
            "CXR_CXONE_CLIENT_SECRET": "fake-client-secret",
            "CXR_CXONE_ACCESS_KEY_ID": "fake-access-key",
            "CXR_CXONE_ACCESS_KEY_SECRET": "fake-access-key-secret",
        }
        code, out, _ = run(env, "webhooks", "register", "--url", EDGE)
        assert code == 0
        assert len(out.strip().splitlines()[-1]) == 36  # a UUID
    finally:
        server.terminate()
        server.wait(timeout=10)
