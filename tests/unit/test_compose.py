"""compose/docker-compose.yml, its Prometheus and Grafana files and the Dockerfile agree
with the code: every setting exists and validates, addresses name real services and the
ports they listen on, mounted files exist. Reads files only: no Docker, no network."""

from __future__ import annotations

import base64
import os
import re
import shlex
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from pipeline.cxone.settings import CxoneSettings, load_cxone_settings
from pipeline.edge.auth import build_check
from pipeline.observability.slo import load_slos
from pipeline.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"  # compose resolves relative paths from the file's folder
COMPOSE = COMPOSE_DIR / "docker-compose.yml"
PROMETHEUS_CONFIG = COMPOSE_DIR / "prometheus" / "prometheus-compose.yml"
RULES = COMPOSE_DIR / "prometheus" / "cxr-rules.yml"
GRAFANA_PROVISIONING = ROOT / "grafana" / "provisioning"
DOCKERFILE = ROOT / "Dockerfile"
KAFKA_IMAGE = "apache/kafka:"
SECRET_VARIABLES = {"hmac": "CXR_EDGE_HMAC_SECRETS", "bearer": "CXR_EDGE_BEARER_TOKENS",
                    "basic": "CXR_EDGE_BASIC_USERS"}
_INTERPOLATION = re.compile(r"\$\{\w+(?::?([-?])([^}]*))?\}")


# ---- reading the files -----------------------------------------------------------------

def interpolate(value: object) -> str:
    """What compose substitutes: the default of `${X:-default}`, else a stand-in value."""
    return _INTERPOLATION.sub(lambda m: m[2] if m[1] == "-" else "stand-in-secret-16+", str(value))


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
    return [n for n, s in services().items() if str(s.get("image", "")).startswith(KAFKA_IMAGE)]


def app_services() -> list[str]:
    return [n for n in services() if any(k.startswith("CXR_") for k in env(n))]


def settings_of(service: str) -> Settings:
    """The service's Settings: its CXR_* values over the defaults (the test's own
    environment is cleared by `_no_cxr_environment`)."""
    values = {k[4:].lower(): v for k, v in env(service).items()
              if k.startswith("CXR_") and not k.startswith("CXR_CXONE_")}
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


def published_container_ports(service: str) -> set[int]:
    return {int(str(p).split(":")[-1].split("/")[0]) for p in services()[service]["ports"]}


def dockerfile_final_stage() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the last stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [ln for ln in map(str.strip, text.splitlines()) if ln and not ln.startswith("#")]
    instructions = [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


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
    assert not unknown, f"not a setting of pipeline.settings / pipeline.cxone.settings: {unknown}"


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

    from pipeline.cli import app

    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    wrong = {s: services()[s]["command"] for s in app_services()
             if services()[s]["command"][0] not in commands}
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
    from agents.fanout import Fanout
    from pipeline.routing import load_routes

    settings = settings_of("worker")
    routes = load_routes(settings.schemas_dir)
    key = settings.redaction_key
    Fanout(routes, {r.name: r.name for r in routes},
           key.get_secret_value().encode() if key else None)  # raises without a key
    raw = str(services()["worker"]["environment"].get("CXR_REDACTION_KEY", ""))
    assert re.fullmatch(r"\$\{CXR_REDACTION_KEY:\?[^}]*\}", raw), raw


# ---- Kafka ------------------------------------------------------------------------------

def test_bootstrap_names_every_kafka_node_at_its_advertised_address() -> None:
    advertised = set()
    for node in kafka_nodes():
        node_env = env(node)
        controller = node_env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        for name, address in listeners(node_env["KAFKA_ADVERTISED_LISTENERS"]).items():
            bound = listeners(node_env["KAFKA_LISTENERS"]).get(name, ":")
            assert name != controller and address.split(":")[0] == node and (
                port(address) == port(bound)), (
                f"{node} advertises {name}://{address}: advertise the service name and "
                f"the port of its {name} listener ({bound})")
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
    topics_deps = services()["topics"]["depends_on"]
    assert {n: topics_deps.get(n, {}).get("condition") for n in kafka_nodes()} == dict.fromkeys(
        kafka_nodes(), "service_healthy"), f"topics must wait for every broker: {topics_deps}"
    for service in ("edge", "worker"):
        condition = services()[service]["depends_on"].get("topics", {}).get("condition")
        assert condition == "service_completed_successfully", f"{service}: {condition}"


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


def test_the_image_ships_the_schemas_where_it_says() -> None:
    copies = [shlex.split(args) for word, args in dockerfile_final_stage() if word == "COPY"]
    destination = next(c[-1] for c in copies if c[0].rstrip("/") == "schemas")
    schemas_dir = dockerfile_env().get("CXR_SCHEMAS_DIR", "")
    assert destination.rstrip("/") == schemas_dir, (
        f"schemas/ is copied to {destination} but CXR_SCHEMAS_DIR is {schemas_dir!r}")
