"""compose/docker-compose.yml, its Prometheus and Grafana files, its Kafka scripts and the
Dockerfile agree with the code: every setting exists and validates, addresses name real
services and the ports they listen on, mounted files exist; Kafka speaks SASL_SSL to every
service, each under its own SCRAM user with its role's ACLs, over certificates that name
every broker. No Docker, no network: files are read, and compose/kafka/start.sh and
healthcheck.sh run with stand-in Kafka tools (POSIX sh)."""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from cxone_router.cxone.settings import CxoneSettings, load_cxone_settings
from cxone_router.observability.slo import load_slos
from cxone_router.settings import Settings, load_settings
from tests.edge_auth import build_check

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"  # compose resolves relative paths from the file's folder
COMPOSE = COMPOSE_DIR / "docker-compose.yml"
PROMETHEUS_CONFIG = COMPOSE_DIR / "prometheus" / "prometheus-compose.yml"
RULES = COMPOSE_DIR / "prometheus" / "cxr-rules.yml"
GRAFANA_PROVISIONING = ROOT / "grafana" / "provisioning"
DOCKERFILE = ROOT / "Dockerfile"
KAFKA_IMAGE = "apache/kafka:"
KAFKA_SCRIPTS = COMPOSE_DIR / "kafka"
START = KAFKA_SCRIPTS / "start.sh"
HEALTHCHECK = KAFKA_SCRIPTS / "healthcheck.sh"
MAKE_CERTS = KAFKA_SCRIPTS / "make-certs.sh"
CERTS_JOB = "kafka-certs"  # makes the CA and the brokers' certificate, once
ACLS_JOB = "acls"  # grants each role its ACLs, as admin
ADMIN_JOBS = {"topics", ACLS_JOB}  # the only services that may run as a super user
SCRAM_PREFIX = "SCRAM_PASSWORD_"  # start.sh: SCRAM_PASSWORD_<USER> formats the user <user>
SECRET_VARIABLES = {"hmac": "CXR_EDGE_HMAC_SECRETS", "bearer": "CXR_EDGE_BEARER_TOKENS",
                    "basic": "CXR_EDGE_BASIC_USERS"}
_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::?([-?])([^}]*))?\}")
_REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")


# ---- reading the files -----------------------------------------------------------------

def interpolate(value: object) -> str:
    """What compose substitutes: `$$` -> `$`, the default of `${X:-default}`, else a
    stand-in value, one per variable (so two places that read one variable agree, and two
    variables differ), long enough and plain enough for any secret: 16+ characters,
    letters, digits, '-' and '_'."""
    def substitute(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        return m[3] if m[2] == "-" else f"stand-in-{m[1].lower()}"

    return _INTERPOLATION.sub(substitute, str(value))


def required_variable(value: object) -> str | None:
    """X when the whole value is `${X:?message}` (compose refuses to start without X)."""
    match = _REQUIRED.fullmatch(str(value))
    return match[1] if match else None


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@cache
def services() -> dict[str, Any]:
    return dict(load_yaml(COMPOSE)["services"])


def env(service: str) -> dict[str, str]:
    """The service's environment after YAML merges and compose interpolation."""
    raw = services()[service].get("environment") or {}
    if isinstance(raw, list):  # the `KEY=value` list form
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(value) for key, value in raw.items()}


def kafka_nodes() -> list[str]:
    """The brokers (the image's one-shot jobs, such as kafka-certs, aside)."""
    return [n for n, s in services().items() if str(s.get("image", "")).startswith(KAFKA_IMAGE)
            and "KAFKA_PROCESS_ROLES" in env(n)]


def app_services() -> list[str]:
    return [n for n in services() if any(k.startswith("CXR_") for k in env(n))]


def settings_of(service: str) -> Settings:
    """The service's Settings: its CXR_* values over the defaults (the test's own
    environment is cleared by `_no_cxr_environment`). A file setting (CXR_*_FILE) names a
    path in the container: it is read where the host has it (`host_file`), so a path
    that leads nowhere fails as it would in the container."""
    values = {}
    for key, value in env(service).items():
        if key.startswith("CXR_") and not key.startswith("CXR_CXONE_"):
            name = key[4:].lower()
            if name.endswith("_file") and value:
                found = host_file(service, value)
                value = str(found) if found else value
            values[name] = value
    return load_settings(**values)


def listeners(value: str) -> dict[str, str]:
    """`NAME://host:port,...` -> {NAME: "host:port"}."""
    return dict(item.split("://", 1) for item in value.split(","))


def port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def mounts(service: str) -> dict[str, Path]:
    """Container path -> host path, for the service's bind mounts (named volumes aside)."""
    found = {}
    for volume in services()[service].get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith((".", "/")):
            found[target] = (COMPOSE_DIR / source).resolve()
    return found


def volumes(service: str) -> dict[str, tuple[str, bool]]:
    """Container path -> (named volume, read-only), for the service's named volumes."""
    found = {}
    for volume in services()[service].get("volumes", []):
        source, target, *options = str(volume).split(":")
        if not source.startswith((".", "/")):
            found[target] = (source, "ro" in ",".join(options).split(","))
    return found


def certs_volume() -> tuple[str, str]:
    """(volume, its path in the certs job) that the certs job writes, CERTS_DIR there."""
    certs_dir = env(CERTS_JOB)["CERTS_DIR"]
    volume, read_only = volumes(CERTS_JOB)[certs_dir]
    assert not read_only, f"{CERTS_JOB} must write {certs_dir}"
    return volume, certs_dir


@cache
def certificate_files() -> set[str]:
    """The files make-certs.sh writes into $CERTS_DIR."""
    return set(re.findall(r'"\$CERTS_DIR/([\w.-]+)"', MAKE_CERTS.read_text()))


_KEEP: list[tempfile.TemporaryDirectory[str]] = []


@cache
def _stand_ins() -> Path:
    """A folder for stand-in files, removed when the tests end."""
    folder = tempfile.TemporaryDirectory(prefix="cxr-compose-test-")
    _KEEP.append(folder)
    return Path(folder.name)


def host_file(service: str, path: str) -> Path | None:
    """Where the host has the file the container sees at `path`: under a bind mount, the
    host's file; in the certificates' volume, a stand-in for a file make-certs.sh writes
    (the volume is filled at run time). None when nothing puts a file there."""
    container = PurePosixPath(path)
    for target, source in mounts(service).items():
        if container == PurePosixPath(target) or PurePosixPath(target) in container.parents:
            return source / container.relative_to(target)
    volume = volumes(service).get(str(container.parent))
    if volume and volume[0] == certs_volume()[0] and container.name in certificate_files():
        stand_in = _stand_ins() / container.name
        stand_in.write_text("stand-in\n")
        return stand_in
    return None


def runs(service: str) -> list[list[str]]:
    """The cxone-router command lines a cxr service runs: its command, or each
    `cxone-router ...` line of a shell script (entrypoint `/bin/sh -ec`)."""
    spec = services()[service]
    if "entrypoint" not in spec:
        return [[str(a) for a in spec["command"]]]
    entrypoint = [str(a) for a in spec["entrypoint"]]
    assert entrypoint[0] in ("/bin/sh", "sh") and entrypoint[-1] == "-ec", (
        f"{service}: entrypoint {entrypoint}: a shell that stops at the first failure "
        f"(/bin/sh -ec), or the image's (cxone-router)")
    lines = [shlex.split(line) for line in str(spec["command"][0]).splitlines()
             if line.strip() and not line.strip().startswith("#")]
    wrong = [" ".join(line) for line in lines if line[0] != "cxone-router"]
    assert not wrong, f"{service}: runs more than cxone-router: {wrong}"
    return [line[1:] for line in lines]


def username(service: str) -> str:
    return str(settings_of(service).kafka_sasl_username)


def super_users() -> set[str]:
    found = {frozenset(env(n)["KAFKA_SUPER_USERS"].split(";")) for n in kafka_nodes()}
    assert len(found) == 1, f"KAFKA_SUPER_USERS differ between nodes: {found}"
    return set(found.pop())


def scram_users(node: str) -> dict[str, str]:
    """user -> the variable holding its password, as start.sh reads SCRAM_PASSWORD_*."""
    raw = services()[node]["environment"]
    return {k[len(SCRAM_PREFIX):].lower(): str(required_variable(v) or v)
            for k, v in raw.items() if k.startswith(SCRAM_PREFIX)}


def fake_kafka_tools(folder: Path) -> Path:
    """Stand-ins for /opt/kafka/bin: each writes its arguments, one a line, to
    <folder>/<tool>.args and exits 0."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    for tool in ("kafka-storage.sh", "kafka-server-start.sh", "kafka-broker-api-versions.sh"):
        path = bin_dir / tool
        path.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{folder}/{tool}.args"\n')
        path.chmod(0o755)
    return bin_dir


@cache
def started(node: str) -> tuple[dict[str, str], dict[str, str], list[str], list[str]]:
    """Run start.sh, then healthcheck.sh, for `node` with its environment, the stand-in
    Kafka tools and a stand-in keystore password: (server.properties,
    client.properties, kafka-storage's arguments, kafka-broker-api-versions' arguments)."""
    shell = shutil.which("sh")
    assert shell is not None, "no POSIX sh to run compose/kafka/start.sh with"
    folder = Path(tempfile.mkdtemp(prefix=f"start-{node}-", dir=_stand_ins()))
    certs = folder / "certs"
    certs.mkdir()
    (certs / "broker.password").write_text("stand-in-keystore-password\n")
    assert not Path(env(node)["KAFKA_LOG_DIRS"], "meta.properties").exists()  # so: format
    node_env = {**env(node), "BIN_DIR": str(fake_kafka_tools(folder)),
                "CONFIG_DIR": str(folder), "CERTS_DIR": str(certs),
                "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for script in (START, HEALTHCHECK):
        done = subprocess.run([shell, str(script)], env=node_env, capture_output=True,
                              text=True, timeout=30, check=False)
        assert done.returncode == 0, f"{script.name} for {node}: {done.stderr}"

    def properties(path: Path) -> dict[str, str]:
        lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
        return dict(ln.split("=", 1) for ln in lines)

    def arguments(tool: str) -> list[str]:
        return (folder / f"{tool}.args").read_text().splitlines()

    return (properties(folder / "server.properties"), properties(folder / "client.properties"),
            arguments("kafka-storage.sh"), arguments("kafka-broker-api-versions.sh"))


def published_container_ports(service: str) -> set[int]:
    return {int(str(p).split(":")[-1].split("/")[0]) for p in services()[service]["ports"]}


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Each stage's (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [ln for ln in map(str.strip, text.splitlines()) if ln and not ln.startswith("#")]
    stages: list[list[tuple[str, str]]] = []
    for word, args in ((ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines):
        if word == "FROM":
            stages.append([])
        stages[-1].append((word, args))
    return stages


def dockerfile_final_stage() -> list[tuple[str, str]]:
    return dockerfile_stages()[-1]


def dockerfile_env() -> dict[str, str]:
    return dict(item.split("=", 1) for word, args in dockerfile_final_stage()
                if word == "ENV" for item in shlex.split(args))


@pytest.fixture(autouse=True)
def _no_cxr_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment too: only the files' values may count here."""
    for name in [n for n in os.environ if n.startswith("CXR_")]:
        monkeypatch.delenv(name)


# ---- settings ---------------------------------------------------------------------------

def is_setting(name: str) -> bool:
    if name.startswith("CXR_CXONE_"):
        return name[len("CXR_CXONE_"):].lower() in CxoneSettings.model_fields
    return name[len("CXR_"):].lower() in Settings.model_fields


def test_every_cxr_variable_is_a_setting() -> None:
    names = [(service, name) for service in services() for name in env(service)]
    names += [("Dockerfile", name) for name in dockerfile_env()]
    unknown = [f"{where}: {name}" for where, name in names
               if name.startswith("CXR_") and not is_setting(name)]
    assert not unknown, ("not a setting of cxone_router.settings / "
                         f"cxone_router.cxone.settings: {unknown}")


@pytest.mark.parametrize("service", app_services())
def test_every_services_settings_validate(service: str) -> None:
    settings_of(service)  # a ConfigurationError names the variable
    load_cxone_settings(**{k[10:].lower(): v for k, v in env(service).items()
                           if k.startswith("CXR_CXONE_")})


def test_the_app_services_agree_on_the_cluster_and_the_topics() -> None:
    shared = ("kafka_bootstrap", "topic_prefix", "partitions", "replication_factor",
              "kafka_idempotence")
    seen = {s: tuple(getattr(settings_of(s), f) for f in shared) for s in app_services()}
    assert len(set(seen.values())) == 1, f"{shared} differ between services: {seen}"


def test_every_app_service_runs_a_real_command() -> None:
    import typer.main

    from cxone_router.cli import app

    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    wrong = {s: line for s in app_services() for line in runs(s) if line[0] not in commands}
    assert not wrong, f"not cxone-router commands ({sorted(commands)}): {wrong}"


def test_the_brokers_accept_the_workers_session_timeout() -> None:
    """Below the brokers' floor, the group refuses a worker (which then exits 1)."""
    floor_ms = {int(env(n).get("KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS", 6000))
                for n in kafka_nodes()}
    asked_ms = settings_of("worker").session_timeout_seconds * 1000
    assert len(floor_ms) == 1 and asked_ms >= floor_ms.pop(), (
        f"CXR_SESSION_TIMEOUT_SECONDS ({asked_ms:.0f} ms) is below the brokers' "
        f"KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS")


def test_the_edge_refuses_to_start_without_a_secret() -> None:
    settings = settings_of("edge")
    check, _ = build_check(settings)  # raises when the mode lacks its secrets
    secret = SECRET_VARIABLES.get(settings.edge_auth, "")
    raw = str(services()["edge"]["environment"].get(secret, ""))
    assert check is not None and re.fullmatch(r"\$\{\w+:\?[^}]*\}", raw), (
        f"the edge must authenticate (CXR_EDGE_AUTH={settings.edge_auth}) with {secret} "
        f"from a required variable (${{NAME:?message}}), not {raw!r}")


def test_the_workers_hash_with_a_key_from_a_required_variable() -> None:
    """The default routes hash (analytics): a worker without CXR_REDACTION_KEY refuses to
    start, so compose must refuse first, with a message, like the edge's secret."""
    from cxone_router.agents.fanout import Fanout
    from cxone_router.routing import load_routes

    settings = settings_of("worker")
    routes = load_routes(settings.schemas_dir)
    key = settings.redaction_key
    Fanout(routes, {r.name: r.name for r in routes},
           key.get_secret_value().encode() if key else None)  # raises without a key
    raw = str(services()["worker"]["environment"].get("CXR_REDACTION_KEY", ""))
    assert re.fullmatch(r"\$\{CXR_REDACTION_KEY:\?[^}]*\}", raw), raw


# ---- Kafka ------------------------------------------------------------------------------

def test_bootstrap_names_every_kafka_node_at_its_advertised_address() -> None:
    """Each node advertises its service name and the port of the listener it names; the
    services dial exactly those addresses, with the protocol that listener speaks."""
    advertised = set()
    for node in kafka_nodes():
        node_env = env(node)
        controller = node_env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        protocols = dict(item.split(":", 1)
                         for item in node_env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        for name, address in listeners(node_env["KAFKA_ADVERTISED_LISTENERS"]).items():
            bound = listeners(node_env["KAFKA_LISTENERS"]).get(name, ":")
            assert name != controller and address.split(":")[0] == node and (
                port(address) == port(bound)), (
                f"{node} advertises {name}://{address}: advertise the service name and "
                f"the port of its {name} listener ({bound})")
            for service in app_services():
                protocol = settings_of(service).kafka_security_protocol
                assert protocols.get(name) == protocol, (
                    f"{node}'s {name} listener speaks {protocols.get(name)}, but {service} "
                    f"dials it with CXR_KAFKA_SECURITY_PROTOCOL={protocol}")
            advertised.add(address)
    for service in app_services():
        bootstrap = set(str(settings_of(service).kafka_bootstrap).split(","))
        assert bootstrap == advertised, (
            f"{service}: CXR_KAFKA_BOOTSTRAP {sorted(bootstrap)} is not the brokers' "
            f"advertised addresses {sorted(advertised)}")


def test_the_controller_quorum_is_the_three_nodes_on_their_controller_port() -> None:
    expected = set()
    for node in kafka_nodes():
        node_env = env(node)
        controller = listeners(node_env["KAFKA_LISTENERS"])[
            node_env["KAFKA_CONTROLLER_LISTENER_NAMES"]]
        expected.add(f"{node_env['KAFKA_NODE_ID']}@{node}:{port(controller)}")
    for node in kafka_nodes():
        voters = set(env(node)["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
        assert voters == expected and len(expected) == 3, (
            f"{node}: quorum voters {sorted(voters)}, expected {sorted(expected)}")


def test_kafka_node_ids_are_unique() -> None:
    ids = [env(node)["KAFKA_NODE_ID"] for node in kafka_nodes()]
    assert len(set(ids)) == len(ids), f"duplicate KAFKA_NODE_ID: {ids}"


def test_the_nodes_share_one_valid_cluster_id() -> None:
    ids = {env(node)["CLUSTER_ID"] for node in kafka_nodes()}
    assert len(ids) == 1, f"CLUSTER_ID differs between nodes: {ids}"
    assert len(base64.urlsafe_b64decode(ids.pop() + "==")) == 16, "CLUSTER_ID: 16 bytes base64"


def test_kafka_replicates_three_times_and_needs_two_in_sync() -> None:
    expected = {"KAFKA_DEFAULT_REPLICATION_FACTOR": "3", "KAFKA_MIN_INSYNC_REPLICAS": "2",
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "3",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "3",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "2"}
    for node in kafka_nodes():
        actual = {key: env(node).get(key) for key in expected}
        assert actual == expected, f"{node}: {actual}"
    topics_rf = {s: settings_of(s).replication_factor for s in app_services()}
    assert set(topics_rf.values()) == {3}, f"CXR_REPLICATION_FACTOR must be 3: {topics_rf}"


# ---- Kafka security ---------------------------------------------------------------------

@pytest.mark.parametrize("service", app_services())
def test_every_app_service_logs_in_with_sasl_ssl_and_checks_the_brokers(service: str) -> None:
    """SASL_SSL with the brokers' mechanism, a user and a password from a required
    variable, the CA the brokers' certificate is signed by (read-only from the certificates'
    volume), and host names checked. Settings validate: a CA path leading nowhere fails."""
    settings = settings_of(service)
    mechanisms = {env(n)["KAFKA_SASL_ENABLED_MECHANISMS"] for n in kafka_nodes()}
    assert settings.kafka_security_protocol == "SASL_SSL", (
        f"{service}: CXR_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}")
    assert {settings.kafka_sasl_mechanism} == mechanisms, (
        f"{service}: CXR_KAFKA_SASL_MECHANISM={settings.kafka_sasl_mechanism}, the brokers "
        f"enable {mechanisms}")
    assert settings.kafka_ssl_check_hostname, f"{service}: CXR_KAFKA_SSL_CHECK_HOSTNAME off"
    raw = services()[service]["environment"]
    assert required_variable(raw.get("CXR_KAFKA_SASL_PASSWORD", "")) or (
        "CXR_KAFKA_SASL_PASSWORD_FILE" in raw), (
        f"{service}: CXR_KAFKA_SASL_PASSWORD from a required variable (${{NAME:?message}}) "
        f"or CXR_KAFKA_SASL_PASSWORD_FILE, not {raw.get('CXR_KAFKA_SASL_PASSWORD')!r}")
    ca = PurePosixPath(env(service)["CXR_KAFKA_SSL_CA_FILE"])
    trusted = {PurePosixPath(env(n)["KAFKA_SSL_TRUSTSTORE_LOCATION"]).name for n in kafka_nodes()}
    assert volumes(service).get(str(ca.parent)) == (certs_volume()[0], True) and (
        {ca.name} == trusted), (
        f"{service}: CXR_KAFKA_SSL_CA_FILE={ca} is not the CA the brokers trust ({trusted}) "
        f"in the {certs_volume()[0]} volume mounted read-only")


def test_each_service_runs_as_its_own_user_and_only_the_jobs_as_admin() -> None:
    supers = super_users()
    assert {"User:admin", "User:broker"} <= supers, f"KAFKA_SUPER_USERS: {supers}"
    for service in app_services():
        is_super = f"User:{username(service)}" in supers
        assert is_super == (service in ADMIN_JOBS), (
            f"{service} runs as {username(service)}: super users are for {sorted(ADMIN_JOBS)} "
            f"only; every other service runs as its role's user")
    long_running = [s for s in app_services() if s not in ADMIN_JOBS]
    users = {s: username(s) for s in long_running}
    assert len(set(users.values())) == len(users), f"one user per service: {users}"


@pytest.mark.parametrize("node", kafka_nodes())
def test_the_brokers_format_every_user_the_services_log_in_as(node: str) -> None:
    """start.sh formats the storage with a SCRAM user per SCRAM_PASSWORD_<USER>: every
    user a service logs in as, with the password that service has (one variable)."""
    server, _, storage, _ = started(node)
    assert storage[:2] == ["format", "--ignore-formatted"] and (
        storage[storage.index("-t") + 1] == env(node)["CLUSTER_ID"]), storage
    mechanism = env(node)["KAFKA_SASL_ENABLED_MECHANISMS"]
    formatted = {}
    for flag, value in zip(storage, storage[1:], strict=False):
        if flag == "--add-scram":
            match = re.fullmatch(rf"{mechanism}=\[name=([\w.-]+),password=([^,\]]+)\]", value)
            assert match, f"{node}: --add-scram {value!r} is not {mechanism}=[name=..,password=..]"
            formatted[match[1]] = match[2]
    assert set(formatted) == set(scram_users(node)), (formatted.keys(), scram_users(node))
    for service in app_services():
        settings = settings_of(service)
        password = settings.kafka_sasl_password
        assert settings.kafka_sasl_username in formatted, (
            f"{service} logs in as {settings.kafka_sasl_username}, a user {node} never "
            f"formats: {sorted(formatted)} (add SCRAM_PASSWORD_<USER> to x-kafka)")
        assert password and formatted[settings.kafka_sasl_username] == (
            password.get_secret_value()), (
            f"{service}'s CXR_KAFKA_SASL_PASSWORD is not the variable {node} formats "
            f"{settings.kafka_sasl_username} with "
            f"({scram_users(node)[settings.kafka_sasl_username]})")
    jaas = server[f"listener.name.{env(node)['KAFKA_INTER_BROKER_LISTENER_NAME'].lower()}."
                  f"{mechanism.lower()}.sasl.jaas.config"]
    assert f'username="admin" password="{formatted["admin"]}"' in jaas, (
        f"{node}: the brokers must log in to each other as admin, with admin's password")


@pytest.mark.parametrize("node", kafka_nodes())
def test_the_brokers_listen_and_authorize_as_the_services_expect(node: str) -> None:
    """The properties start.sh writes: every KAFKA_<NAME> of the node as <name>; SASL_SSL
    between clients and brokers, mutual TLS between controllers (the brokers' certificate,
    CN=broker -> User:broker), nothing in plaintext, nothing allowed without an ACL; the
    keystore from the certificates' volume with its password; the healthcheck asks the
    node's own advertised address as admin."""
    server, client, _, health = started(node)
    node_env = env(node)
    ignored = re.compile(r"KAFKA_(\w+_)?OPTS|KAFKA_DEBUG|KAFKA_JMX_PORT|KAFKA_JMX_HOSTNAME")
    expected = {k[6:].lower().replace("_", "."): v for k, v in node_env.items()
                if k.startswith("KAFKA_") and not ignored.fullmatch(k)}
    differ = {k: (v, server.get(k)) for k, v in expected.items() if server.get(k) != v}
    assert not differ, f"{node}: start.sh wrote other properties: {differ}"

    protocols = dict(item.split(":", 1)
                     for item in server["listener.security.protocol.map"].split(","))
    inter_broker = server["inter.broker.listener.name"]
    mechanism = server["sasl.mechanism.inter.broker.protocol"]
    assert set(listeners(server["advertised.listeners"])) == {inter_broker} and (
        protocols[inter_broker] == "SASL_SSL"), f"{node}: clients and brokers on SASL_SSL"
    controller = server["controller.listener.names"]
    assert protocols[controller] == "SSL" and (
        server.get(f"listener.name.{controller.lower()}.ssl.client.auth") == "required"), (
        f"{node}: controllers on mutual TLS (listener.name.<controller>.ssl.client.auth)")
    assert server.get("ssl.client.auth", "none") != "required", (
        f"{node}: ssl.client.auth=required for every listener: Kafka may apply it to "
        f"SASL_SSL too, whose clients have no certificate; set it on the controller's only")
    assert set(protocols) == set(listeners(server["listeners"])) and (
        not {"PLAINTEXT", "SASL_PLAINTEXT"} & set(protocols.values())), (
        f"{node}: a listener without TLS: {protocols}")
    assert server["sasl.enabled.mechanisms"] == mechanism, server["sasl.enabled.mechanisms"]
    assert server["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer") and (
        server["allow.everyone.if.no.acl.found"] == "false"), f"{node}: no authorizer"
    assert server["ssl.principal.mapping.rules"] == "RULE:^CN=([^,]+)$/$1/,DEFAULT", (
        f"{node}: the brokers' certificate must map to User:broker")
    assert '-dname "CN=broker"' in MAKE_CERTS.read_text(), "make-certs.sh: CN=broker"

    certs_dir = node_env["CERTS_DIR"]
    assert volumes(node).get(certs_dir) == (certs_volume()[0], True), (
        f"{node}: mount the {certs_volume()[0]} volume read-only at CERTS_DIR={certs_dir}")
    for key in ("ssl.keystore.location", "ssl.truststore.location"):
        path = PurePosixPath(server[key])
        assert str(path.parent) == certs_dir and path.name in certificate_files(), (
            f"{node}: {key}={path}: make-certs.sh writes {sorted(certificate_files())} "
            f"to {certs_dir}")
    assert server["ssl.keystore.password"] == server["ssl.key.password"] == (
        "stand-in-keystore-password"), f"{node}: the keystore's password from broker.password"

    address = listeners(node_env["KAFKA_ADVERTISED_LISTENERS"])[inter_broker]
    assert health[:2] == ["--bootstrap-server", address], (
        f"{node}: healthcheck asks {health[:2]}, not its advertised {address}")
    assert client["security.protocol"] == "SASL_SSL" and (
        client["sasl.mechanism"] == mechanism) and (
        client["ssl.truststore.location"] == server["ssl.truststore.location"]) and (
        'username="admin"' in client["sasl.jaas.config"]), f"{node}: healthcheck's {client}"


def test_the_acls_job_grants_each_service_its_role() -> None:
    """The job runs as a super user (creating ACLs needs it), grants every role to a user
    the brokers format, and each service's user exactly the role of what it runs: the
    edge's, the workers', an operator's for the rest."""
    from cxone_router.kafka.acls import ROLES, acls_for
    from cxone_router.stack import topics_for

    assert f"User:{username(ACLS_JOB)}" in super_users(), f"{ACLS_JOB} must run as admin"
    users = set(scram_users(kafka_nodes()[0]))
    topics = topics_for(settings_of(ACLS_JOB))
    granted: dict[str, set[str]] = {}
    for line in runs(ACLS_JOB):
        options = dict(zip(line[1::2], line[2::2], strict=False))
        role, principal = options.get("--role", ""), options.get("--principal", "")
        assert line[0] == "acls" and "--apply" in line and role in ROLES, (
            f"{ACLS_JOB}: {' '.join(line)} (acls --role ROLE --principal User:NAME --apply)")
        assert principal.removeprefix("User:") in users, (
            f"{ACLS_JOB}: {principal} is no SCRAM user the brokers format: {sorted(users)}")
        acls_for(role, principal, topics)  # raises on a role it cannot grant
        granted.setdefault(principal, set()).add(role)
    for service in app_services():
        if service in ADMIN_JOBS:
            continue
        command = runs(service)[0][0]
        role = command if command in ("edge", "worker") else "operator"
        principal = f"User:{username(service)}"
        assert granted.get(principal) == {role}, (
            f"{service} runs as {principal}, which {ACLS_JOB} grants "
            f"{sorted(granted.get(principal, []))}, not exactly the {role} role")


def run_make_certs(folder: Path) -> list[list[str]]:
    """make-certs.sh with a stand-in keytool (JAVA_HOME/bin/keytool) that records its
    arguments and creates the files it is asked to write: the keytool calls."""
    shell = shutil.which("sh")
    assert shell is not None, "no POSIX sh to run compose/kafka/make-certs.sh with"
    (folder / "jdk" / "bin").mkdir(parents=True)
    (folder / "certs").mkdir()
    keytool = folder / "jdk" / "bin" / "keytool"
    keytool.write_text(f"""#!/bin/sh
printf '%s\\037' "$@" >> "{folder}/keytool.calls"
printf '\\n' >> "{folder}/keytool.calls"
previous=""
for argument in "$@"; do
    case "$previous" in
        -file|-outfile|-keystore) [ -e "$argument" ] || echo stand-in > "$argument" ;;
    esac
    previous="$argument"
done
""")
    keytool.chmod(0o755)
    certs_env = {**env(CERTS_JOB), "CERTS_DIR": str(folder / "certs"),
                 "JAVA_HOME": str(folder / "jdk"), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for _ in range(2):  # the second run finds the certificates made and changes nothing
        done = subprocess.run([shell, str(MAKE_CERTS)], env=certs_env, capture_output=True,
                              text=True, timeout=30, check=False)
        assert done.returncode == 0, f"make-certs.sh: {done.stderr}"
    lines = (folder / "keytool.calls").read_text().splitlines()
    return [line.split("\037")[:-1] for line in lines]


def test_the_brokers_certificate_names_every_host_the_clients_and_controllers_dial(
        tmp_path: Path) -> None:
    """Clients check the broker's name against its certificate (CXR_KAFKA_SSL_CHECK_HOSTNAME),
    brokers and controllers each other's: the certificate make-certs.sh makes must name
    every host of CXR_KAFKA_BOOTSTRAP and of the controller quorum, and serve both ends
    of a TLS connection."""
    hosts = {address.rsplit(":", 1)[0] for s in app_services()
             for address in str(settings_of(s).kafka_bootstrap).split(",")}
    hosts |= {voter.split("@", 1)[1].rsplit(":", 1)[0] for n in kafka_nodes()
              for voter in env(n)["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")}
    names = set(env(CERTS_JOB)["BROKER_DNS_NAMES"].split(","))
    assert hosts <= names, f"{CERTS_JOB}: BROKER_DNS_NAMES lacks {sorted(hosts - names)}"

    calls = run_make_certs(tmp_path)
    assert len([c for c in calls if c[0] == "-gencert"]) == 1, "made once, not on every run"
    signed = next(c for c in calls if c[0] == "-gencert")
    extensions = [signed[i + 1] for i, a in enumerate(signed) if a == "-ext"]
    sans = next((e.split("=", 1)[1] for e in extensions if e.lower().startswith("san=")), "")
    assert {san.removeprefix("dns:") for san in sans.split(",")} == names, (
        f"make-certs.sh signs SAN {sans!r}, not dns: of every BROKER_DNS_NAMES")
    assert "eku=serverAuth,clientAuth" in extensions, f"server and client auth: {extensions}"
    made = {p.name for p in (tmp_path / "certs").iterdir()}
    used = {PurePosixPath(env(n)[k]).name for n in kafka_nodes()
            for k in ("KAFKA_SSL_KEYSTORE_LOCATION", "KAFKA_SSL_TRUSTSTORE_LOCATION")}
    used |= {PurePosixPath(env(s)["CXR_KAFKA_SSL_CA_FILE"]).name for s in app_services()}
    assert used | {"broker.password"} <= made, f"make-certs.sh makes {made}, not {used}"


def test_every_script_a_service_runs_is_mounted() -> None:
    """An entrypoint, command or healthcheck that runs a script runs one of ours, mounted
    from compose/kafka/ (the image does not have them)."""
    wrong = []
    for service, spec in services().items():
        words = [*spec.get("entrypoint", []), *(spec.get("command") or []),
                 *spec.get("healthcheck", {}).get("test", [])]
        for word in (w for item in words for w in str(item).split()):
            if word.endswith(".sh") and word.startswith("/"):
                source = mounts(service).get(word)
                if source is None or not source.is_file():
                    wrong.append(f"{service}: {word} ({source})")
    assert not wrong, f"scripts not mounted from the host: {wrong}"
    scripts = {node: (mounts(node).get(str(services()[node]["entrypoint"][-1])),
                      mounts(node).get(str(services()[node]["healthcheck"]["test"][-1])))
               for node in kafka_nodes()}
    assert set(scripts.values()) == {(START, HEALTHCHECK)}, scripts
    certs_entry = str(services()[CERTS_JOB]["entrypoint"][-1])
    assert mounts(CERTS_JOB).get(certs_entry) == MAKE_CERTS, f"{CERTS_JOB}: {certs_entry}"


# ---- app services -----------------------------------------------------------------------

def test_the_edge_healthcheck_asks_readyz_on_the_edge_port() -> None:
    test = " ".join(services()["edge"]["healthcheck"]["test"])
    expected = f"127.0.0.1:{settings_of('edge').edge_port}/readyz"
    assert expected in test, f"edge healthcheck {test!r} does not ask {expected}"


def test_the_edge_publishes_the_port_it_listens_on() -> None:
    settings = settings_of("edge")
    assert settings.edge_host == "0.0.0.0", "CXR_EDGE_HOST: loopback is unreachable"
    assert published_container_ports("edge") == {settings.edge_port}


def test_at_least_two_workers() -> None:
    replicas = services()["worker"].get("deploy", {}).get("replicas", 1)
    assert replicas >= 2, f"worker replicas {replicas}: one worker is no failover"


def test_the_topics_job_runs_before_the_edge_and_workers() -> None:
    """kafka-certs -> every broker -> topics -> acls -> edge and workers: each waits for
    what it needs (a broker for its certificate, a service for its ACLs)."""
    def waits_for(service: str) -> dict[str, str | None]:
        return {name: (condition or {}).get("condition")
                for name, condition in services()[service].get("depends_on", {}).items()}

    for node in kafka_nodes():
        assert waits_for(node).get(CERTS_JOB) == "service_completed_successfully", (
            f"{node} must wait for {CERTS_JOB} to make its certificate: {waits_for(node)}")
    topics_deps = waits_for("topics")
    assert {n: topics_deps.get(n) for n in kafka_nodes()} == dict.fromkeys(
        kafka_nodes(), "service_healthy"), f"topics must wait for every broker: {topics_deps}"
    assert waits_for(ACLS_JOB).get("topics") == "service_completed_successfully", (
        f"{ACLS_JOB}: {waits_for(ACLS_JOB)}")
    for service in ("edge", "worker"):
        condition = waits_for(service).get(ACLS_JOB)
        assert condition == "service_completed_successfully", (
            f"{service} must wait for its ACLs (it exits 1 without them): {condition}")


# ---- Prometheus and Grafana -------------------------------------------------------------

def test_prometheus_scrapes_the_edge_and_every_worker_on_their_ports() -> None:
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    scrape = load_slos(ROOT / "schemas").scrape  # the job names the rules select
    assert {scrape.edge_job, scrape.worker_job} <= set(jobs), f"jobs {sorted(jobs)}"
    edge_targets = {t for c in jobs[scrape.edge_job]["static_configs"] for t in c["targets"]}
    assert edge_targets == {f"edge:{settings_of('edge').edge_port}"}, edge_targets
    worker = settings_of("worker")
    assert worker.metrics_host == "0.0.0.0", "CXR_METRICS_HOST: loopback is unreachable"
    dns = jobs[scrape.worker_job]["dns_sd_configs"]
    assert [(c["names"], c["port"]) for c in dns] == [(["worker"], worker.metrics_port)], dns


def test_prometheus_loads_the_generated_rules() -> None:
    prometheus = services()["prometheus"]
    config = next(a.split("=", 1)[1] for a in prometheus["command"]
                  if a.startswith("--config.file="))
    mounted = mounts("prometheus")
    assert mounted.get(config) == PROMETHEUS_CONFIG, f"{config} is not {PROMETHEUS_CONFIG}"
    for rule_file in load_yaml(PROMETHEUS_CONFIG)["rule_files"]:
        in_container = str(PurePosixPath(config).parent / rule_file)
        assert mounted.get(in_container) == RULES, f"rule_files {rule_file}: not {RULES}"


def test_every_mounted_host_path_exists() -> None:
    missing = [f"{s}: {path}" for s in services() for path in mounts(s).values()
               if not path.exists()]
    build = (COMPOSE_DIR / services()["edge"]["build"]["context"]).resolve()
    if not (build / services()["edge"]["build"]["dockerfile"]).exists():
        missing.append(f"build: {build}")
    assert not missing, f"missing on the host: {missing}"


def test_grafana_reaches_prometheus_through_the_generated_uid() -> None:
    generated = load_yaml(GRAFANA_PROVISIONING / "datasources" / "cxr-prometheus.yml")
    uid = generated["datasources"][0]["uid"]
    sources = [source for target, path in mounts("grafana").items()
               if target.startswith("/etc/grafana/provisioning/datasources/")
               for source in load_yaml(path)["datasources"]]
    prometheus_port = published_container_ports("prometheus").pop()
    assert [(s["uid"], s["url"]) for s in sources] == [
        (uid, f"http://prometheus:{prometheus_port}")], sources


def test_grafana_loads_the_generated_dashboards() -> None:
    provider = load_yaml(GRAFANA_PROVISIONING / "dashboards" / "cxr.yml")["providers"][0]
    mounted = mounts("grafana")
    assert mounted.get("/etc/grafana/provisioning/dashboards") == (
        GRAFANA_PROVISIONING / "dashboards"), "the dashboard provider is not mounted"
    assert mounted.get(provider["options"]["path"]) == ROOT / "grafana" / "dashboards", (
        f"grafana/dashboards is not mounted at {provider['options']['path']}")


# ---- the image --------------------------------------------------------------------------

def test_the_image_is_python_311_slim_and_runs_unprivileged() -> None:
    stage = dockerfile_final_stage()
    base = stage[0][1].split()[0]
    users = [args for word, args in stage if word == "USER"]
    assert base == "python:3.11-slim", f"final stage FROM {base}"
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"USER {users}"


def test_the_image_reads_the_schemas_its_package_carries() -> None:
    """The wheel carries schemas/ (pyproject.toml): the builder must have it beside the
    sources, and nothing may point the image elsewhere."""
    builder = dockerfile_stages()[0]
    copied = [shlex.split(args)[0].rstrip("/") for word, args in builder if word == "COPY"]
    assert "schemas" in copied, f"the builder copies {copied}, not schemas/"
    assert "CXR_SCHEMAS_DIR" not in dockerfile_env()


def test_the_image_installs_the_locked_runtime_dependencies_and_no_others() -> None:
    """Every dependency from requirements/runtime.txt with its hash, then the package
    itself without resolving anything more."""
    runs = [args for word, args in dockerfile_stages()[0] if word == "RUN"]
    assert any("--require-hashes -r requirements/runtime.txt" in run for run in runs), runs
    package = [run for run in runs if re.search(r"pip install .*(?<![\w/-])\.(\s|$)", run)]
    assert package and all("--no-deps" in run for run in package), runs
