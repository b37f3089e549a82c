"""deploy/systemd/ and docs/deployment.md agree with the code and with compose: each
unit's settings validate, and are its compose service's but for where things are (hosts,
paths, secrets read from files); each runs its compose service's commands, as its Kafka
user, in compose's order; no secret is in an environment file or a unit. Files are read;
nothing is started."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from cxone_router.settings import SECRET_FIELDS, Settings, load_settings
from tests.unit.test_compose import (  # _no_cxr_environment: autouse, here too
    _no_cxr_environment,  # noqa: F401
    dockerfile_env,
    is_setting,
    runs,
    services,
    settings_of,
)

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
GUIDE = ROOT / "docs" / "deployment.md"
ETC = "/etc/cxone-router/"
INSTANCE = "9102"  # a worker's instance name: its /metrics port
UNIT_OF = {"topics": "cxone-router-topics.service", "acls": "cxone-router-acls.service",
           "edge": "cxone-router-edge.service", "worker": "cxone-router-worker@.service"}
# Settings that say where things are: the hosts, the files, the secrets' values
WHERE = {"kafka_bootstrap", "kafka_ssl_ca_file", "schemas_dir", "data_dir", "metrics_port",
         *SECRET_FIELDS, *(f"{name}_file" for name in SECRET_FIELDS)}


def unit(name: str) -> dict[str, list[str]]:
    """`[Section]Key` -> its values, in order (systemd keys repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        key, value = line.split("=", 1)
        found.setdefault(f"{section}{key}", []).append(value)
    return found


def service(name: str, key: str) -> list[str]:
    return unit(name).get(f"[Service]{key}", [])


def env_file(path: Path) -> dict[str, str]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return dict(ln.split("=", 1) for ln in lines)


def expand(value: str, credentials: Path) -> str:
    return value.replace("%i", INSTANCE).replace("%d", str(credentials))


def stand_in_credentials(folder: Path, name: str) -> dict[str, str]:
    """The unit's LoadCredential= ids, each written to `folder` as a stand-in secret."""
    ids = {}
    for load in service(name, "LoadCredential"):
        ident, source = load.split(":", 1)
        (folder / ident).write_text(f"stand-in-{ident}-0123456789\n")
        ids[ident] = source
    return ids


def environment(name: str, credentials: Path) -> dict[str, str]:
    """What the unit's process gets: its environment files (from this folder, where the
    guide copies them from), then its Environment= lines, specifiers expanded."""
    stand_in_credentials(credentials, name)
    values: dict[str, str] = {}
    for path in service(name, "EnvironmentFile"):
        assert path.startswith(ETC), f"{name}: EnvironmentFile={path} outside {ETC}"
        values.update(env_file(UNITS / Path(path).name))
    for line in service(name, "Environment"):
        values.update(item.split("=", 1) for item in shlex.split(expand(line, credentials)))
    return values


def settings(name: str, credentials: Path) -> Settings:
    """The unit's Settings; a file the guide installs under /etc/cxone-router/ (the
    brokers' CA) is a stand-in, as the host will have it."""
    cxr = {}
    for key, value in environment(name, credentials).items():
        if key.startswith("CXR_"):
            if key.endswith("_FILE") and value.startswith(ETC):
                stand_in = credentials / "etc" / Path(value).name
                stand_in.parent.mkdir(exist_ok=True)
                stand_in.write_text("stand-in\n")
                value = str(stand_in)
            cxr[key[4:].lower()] = value
    return load_settings(**cxr)


@pytest.fixture()
def credentials(tmp_path: Path) -> Path:
    return tmp_path


@pytest.mark.parametrize("role", UNIT_OF)
def test_every_units_settings_validate_and_are_settings(role: str, credentials: Path) -> None:
    env = environment(UNIT_OF[role], credentials)
    unknown = [n for n in env if n.startswith("CXR_") and not is_setting(n)]
    assert not unknown, f"{UNIT_OF[role]}: not settings: {unknown}"
    settings(UNIT_OF[role], credentials)  # a ConfigurationError names the variable


@pytest.mark.parametrize("role", UNIT_OF)
def test_every_unit_has_its_compose_services_settings(role: str, credentials: Path) -> None:
    """Field by field, but where things are; a secret compose requires, the unit has."""
    ours, theirs = settings(UNIT_OF[role], credentials), settings_of(role)
    differ = {f: (getattr(ours, f), getattr(theirs, f)) for f in Settings.model_fields
              if f not in WHERE and getattr(ours, f) != getattr(theirs, f)}
    assert not differ, f"{UNIT_OF[role]} (ours, compose's {role}): {differ}"
    for secret in SECRET_FIELDS:
        assert (getattr(ours, secret) is None) == (getattr(theirs, secret) is None), (
            f"{UNIT_OF[role]}: {secret} set in one of it and compose's {role}, not both")
    ours_hosts = str(ours.kafka_bootstrap).split(",")
    theirs_hosts = str(theirs.kafka_bootstrap).split(",")
    assert len(ours_hosts) == len(theirs_hosts) and (
        {h.rsplit(":", 1)[1] for h in ours_hosts} == {h.rsplit(":", 1)[1] for h in theirs_hosts})


def test_the_units_set_what_the_image_sets(credentials: Path) -> None:
    """The Dockerfile's CXR_* (where the schemas are, Faust's folder): every long-running
    unit sets them too, to a path of the host."""
    for role in ("edge", "worker"):
        env = environment(UNIT_OF[role], credentials)
        missing = {n for n in dockerfile_env() if n.startswith("CXR_")} - set(env)
        if role == "edge":
            missing.discard("CXR_DATA_DIR")  # the edge keeps nothing
        assert not missing, f"{UNIT_OF[role]}: lacks {missing}"


@pytest.mark.parametrize("role", UNIT_OF)
def test_every_unit_runs_its_compose_services_commands(role: str) -> None:
    commands = [shlex.split(line) for line in service(UNIT_OF[role], "ExecStart")]
    assert all(Path(c[0]).name == "cxone-router" for c in commands), commands
    assert [c[1:] for c in commands] == runs(role), f"{UNIT_OF[role]}: not compose's {role}"


def test_they_start_in_composes_order() -> None:
    """topics, then acls, then the edge and the workers; the one-shot jobs stay "active"
    once done, so `After=` means after they finished."""
    def after(name: str) -> set[str]:
        return {u for line in unit(name).get("[Unit]After", []) for u in line.split()}

    def wants(name: str) -> set[str]:
        return {u for line in unit(name).get("[Unit]Wants", []) for u in line.split()}

    for job in ("topics", "acls"):
        assert service(UNIT_OF[job], "Type") == ["oneshot"]
        assert service(UNIT_OF[job], "RemainAfterExit") == ["yes"]
    assert UNIT_OF["topics"] in after(UNIT_OF["acls"]) & wants(UNIT_OF["acls"])
    for role in ("edge", "worker"):
        assert UNIT_OF["acls"] in after(UNIT_OF[role]) & wants(UNIT_OF[role]), role
        assert "acls" in services()[role]["depends_on"]  # compose's order, which this mirrors
    for name in UNIT_OF.values():
        assert "network-online.target" in after(name) & wants(name), name


def test_secrets_come_from_credentials_never_from_the_environment(credentials: Path) -> None:
    """No secret variable in an environment file or a unit; each *_FILE points into the
    unit's credentials folder, at a credential it loads from root's folder."""
    secrets = {f"CXR_{name.upper()}" for name in SECRET_FIELDS}
    for path in UNITS.glob("*.env"):
        assert not secrets & set(env_file(path)), f"{path.name}: a secret in the environment"
    for name in UNIT_OF.values():
        env = environment(name, credentials)
        assert not secrets & set(env), f"{name}: a secret in Environment="
        loaded = stand_in_credentials(credentials, name)
        for variable in (v for v in env if v.removesuffix("_FILE") in secrets):
            path = Path(env[variable])
            assert path.parent == credentials and path.name in loaded, (
                f"{name}: {variable}={path} is no credential it loads")
        assert all(s.startswith(ETC + "credentials/") for s in loaded.values()), loaded


def test_the_long_running_units_stop_gracefully_and_restart() -> None:
    grace = int(re.sub(r"\D", "", str(services()["worker"]["stop_grace_period"])))
    for role in ("edge", "worker"):
        name = UNIT_OF[role]
        assert service(name, "KillSignal") == ["SIGTERM"], name
        assert int(service(name, "TimeoutStopSec")[0]) >= grace, name
        assert service(name, "Restart") == ["always"], name
        assert service(name, "User") == ["cxone-router"], name


def test_each_worker_has_its_own_port_and_folder(credentials: Path) -> None:
    env = environment(UNIT_OF["worker"], credentials)
    assert env["CXR_METRICS_PORT"] == INSTANCE
    assert env["CXR_DATA_DIR"].endswith(f"worker-{INSTANCE}")
    state = service(UNIT_OF["worker"], "StateDirectory")
    assert [f"/var/lib/{expand(s, credentials)}" for s in state] == [env["CXR_DATA_DIR"]]


def test_the_guide_names_every_file_and_starts_real_units() -> None:
    text = GUIDE.read_text()
    shipped = {p.name for p in UNITS.iterdir()}
    missing = {n for n in shipped if n not in text and n.replace("@.", "@PORT.") not in text}
    assert not missing, f"{GUIDE.name} does not name {missing}"
    started = set(re.findall(r"(cxone-router-[a-z]+(?:@\d+)?\.service)", text))
    templates = {re.sub(r"@\d+", "@", u) for u in started}
    assert templates <= shipped, f"{GUIDE.name} starts units not shipped: {templates - shipped}"
    sources = {Path(load.split(":", 1)[1]).name for n in UNIT_OF.values()
               for load in service(n, "LoadCredential")}
    assert {s for s in sources if f"`{s}`" not in text} == set(), "credentials in the guide"
