"""The pipeline on a secured Apache Kafka, as production runs it: SASL_SSL with SCRAM-SHA-512,
a CA and broker certificate made here, the StandardAuthorizer allowing nothing without an
ACL, and each process under its own principal holding only what `cxone-router acls` gave
its role. Bad credentials and missing ACLs each end in one line naming what to check."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from cxone_router.kafka.apache import ApacheKafka
from cxone_router.kafka.clients import Connection
from cxone_router.samples import brief
from cxone_router.settings import load_settings
from cxone_router.stack import Stack
from tests.integration.harness import make_stack, post, scrape
from tests.waiting import wait_until, wait_until_async

pytestmark = [pytest.mark.integration, pytest.mark.apache]

USERS = ["edge", "worker", "operator", "analytics", "crm"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    with ApacheKafka(nodes=1, folder=tmp_path_factory.mktemp("secured") / "kafka",
                     users=USERS) as running:
        yield running


def cli(env: Mapping[str, str], *args: str,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`cxone-router ARGS` as a process of its own, with only these CXR_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CXR_")}
    return subprocess.run([sys.executable, "-m", "cxone_router", *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=timeout, check=False)


def connection(env: Mapping[str, str]) -> Connection:
    return Connection.of(load_settings(**{k[4:].lower(): v for k, v in env.items()}))


@pytest.fixture(scope="module")
def stack(cluster: ApacheKafka, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Topics made by the admin; every role's ACLs applied with `acls --apply`; the worker
    and the edge each under their own principal."""
    running = make_stack(cluster, CXR_REPLICATION_FACTOR="1", CXR_LAG_CHECK_SECONDS="1")
    running.log_dir = tmp_path_factory.mktemp("secured-logs")
    try:
        running.ensure_topics()
        admin = {**running.env, "CXR_KAFKA_BOOTSTRAP": running.bootstrap}
        grants = [("edge", "edge", []), ("worker", "worker", []),
                  ("operator", "operator", []),
                  ("analytics", "consumer", ["--route", "analytics"]),
                  ("crm", "consumer", ["--route", "crm-sync"])]
        for user, role, more in grants:
            done = cli(admin, "acls", "--role", role, "--principal", f"User:{user}", *more,
                       "--apply")
            assert done.returncode == 0, done.stderr
        running.start_worker(extra=cluster.client_env("worker"))
        running.start_edge(extra=cluster.client_env("edge"))
        running.wait_edge_ready(90)
        yield running
    finally:
        running.stop_all()


def role_env(stack: Stack, cluster: ApacheKafka, user: str) -> dict[str, str]:
    return {**stack.env, **cluster.client_env(user)}


def certificate_env(stack: Stack, cluster: ApacheKafka, name: str) -> dict[str, str]:
    """A client known by its certificate (mutual TLS) instead of a SASL user."""
    return {**{k: v for k, v in stack.env.items() if "_SASL_" not in k},
            **cluster.mtls_env(name)}


async def read_as(kafka: Connection, topic: str, group: str | None, want: str,
                  timeout: float = 60) -> list[dict[str, Any]]:
    """Read `topic` from the beginning until the record of interaction `want` arrives."""
    consumer = kafka.consumer(topic, group_id=group, auto_offset_reset="earliest",
                              enable_auto_commit=False)
    seen: list[dict[str, Any]] = []

    async def arrived() -> bool:
        batch = await consumer.getmany(timeout_ms=500)
        seen.extend(orjson.loads(r.value) for rs in batch.values() for r in rs)
        return any(v.get("interactionId") == want for v in seen)

    try:
        await consumer.start()
        await wait_until_async(arrived, f"{want} on {topic}", timeout, every=0,
                               seen=lambda: f"{len(seen)} records")
        return seen
    finally:
        await consumer.stop()


async def test_a_webhook_crosses_the_secured_pipeline_each_part_under_its_own_principal(
        stack: Stack, cluster: ApacheKafka) -> None:
    interaction = f"secured-{uuid.uuid4().hex[:8]}"
    answer = await post(stack, brief("interaction.created", interaction, "voice"))
    assert answer.status_code == 202, answer.text
    # The consumer reads its route with its own group.
    analytics = connection(role_env(stack, cluster, "analytics"))
    found = await read_as(analytics, stack.topics.fanout("analytics"),
                          f"{stack.settings.topic_prefix}.analytics", interaction)
    assert interaction in {v["interactionId"] for v in found}
    # The operator tails the channel topic.
    tail = cli(role_env(stack, cluster, "operator"), "tail", "voice", "--json")
    assert tail.returncode == 0, tail.stderr
    assert interaction in {orjson.loads(line)["value"]["interactionId"]
                           for line in tail.stdout.splitlines()}
    # The worker's lag monitor reads its group's offsets under the worker's ACLs too.
    lag = scrape(stack.worker_metrics["worker"]).series("cxr_consumer_lag_records")
    assert {dict(s.labels)["partition"] for s in lag} == {
        str(p) for p in range(stack.settings.partitions)}, lag


def test_the_operator_replays_a_dead_letter(stack: Stack, cluster: ApacheKafka) -> None:
    unknown_channel = {"eventId": str(uuid.uuid4()), "eventType": "Ping", "data": {"id": "x"}}
    answer = asyncio.run(post(stack, unknown_channel))
    assert answer.status_code == 202, answer.text
    operator = role_env(stack, cluster, "operator")

    def dead_letters() -> int:
        listed = cli(operator, "dlq", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        return int(orjson.loads(listed.stdout)["total"])

    wait_until(dead_letters, "a dead letter arrives", every=1)
    replay = cli(operator, "dlq", "replay", "--all", "--json")
    assert replay.returncode == 0, replay.stderr
    replayed = orjson.loads(replay.stdout)
    assert replayed["replayed"] and not replayed["failed"], replayed


async def test_each_role_is_denied_what_it_was_not_given(stack: Stack,
                                                          cluster: ApacheKafka) -> None:
    edge = connection(role_env(stack, cluster, "edge"))
    analytics = connection(role_env(stack, cluster, "analytics"))
    # The edge cannot read a channel topic.
    with pytest.raises(TopicAuthorizationFailedError):
        await read_as(edge, stack.topics.channel("voice"), None, "never", timeout=10)
    # A consumer cannot read another route's topic…
    with pytest.raises(TopicAuthorizationFailedError):
        await read_as(analytics, stack.topics.fanout("crm-sync"),
                      f"{stack.settings.topic_prefix}.crm-sync", "never", timeout=10)
    # …nor write anywhere, its own route's topic included.
    producer = analytics.producer(acks="all", request_timeout_ms=5000)
    await producer.start()
    try:
        for topic in (stack.topics.fanout("analytics"), stack.topics.raw):
            with pytest.raises(KafkaError) as refused:
                await asyncio.wait_for(producer.send_and_wait(topic, b"x"), 15)
            assert isinstance(refused.value, TopicAuthorizationFailedError), refused.value
    finally:
        await producer.stop()
    # An operator command run as a principal without the ACL says which one is missing.
    denied = cli(role_env(stack, cluster, "analytics"), "tail", "voice")
    assert denied.returncode != 0
    assert "READ" in denied.stderr and stack.topics.channel("voice") in denied.stderr, \
        denied.stderr
    assert "Traceback" not in denied.stderr


@pytest.mark.parametrize("role,operation", [("edge", "WRITE"), ("worker", "READ")])
def test_a_process_whose_principal_lacks_its_roles_acls_names_them_at_start(
        stack: Stack, cluster: ApacheKafka, role: str, operation: str) -> None:
    """The crm consumer's principal started as an edge or a worker: it stops at once,
    naming the ACLs its role lacks, instead of crashing on its first topic (worker) or
    answering 503 for ever (edge)."""
    env = {**role_env(stack, cluster, "crm"), "CXR_METRICS_PORT": "0", "CXR_EDGE_PORT": "0"}
    done = cli(env, role, timeout=60)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert re.search(f"{operation} on [^;]*{re.escape(stack.topics.raw)}", lines[0]), lines[0]
    assert "User:crm" in lines[0] and f"--role {role}" in lines[0], lines[0]


def test_mutual_tls_client_certificate_is_the_principal(stack: Stack,
                                                         cluster: ApacheKafka) -> None:
    admin = {**stack.env, "CXR_KAFKA_BOOTSTRAP": stack.bootstrap}
    granted = cli(admin, "acls", "--role", "operator", "--principal", "User:auditor",
                  "--apply")
    assert granted.returncode == 0, granted.stderr
    auditor = certificate_env(stack, cluster, "auditor")
    described = cli(auditor, "topics", "describe", "--json")
    assert described.returncode == 0, described.stderr
    assert {orjson.loads(line)["topic"] for line in described.stdout.splitlines()} == \
        set(stack.topics.all())
    # A certificate the CA signed, for a name without ACLs: known, and refused.
    stranger = certificate_env(stack, cluster, "stranger")
    refused = cli(stranger, "tail", "raw")
    assert refused.returncode != 0 and "READ" in refused.stderr, refused.stderr


def one_line_error(done: subprocess.CompletedProcess[str], *names: str,
                   secret: str | None = None) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert all(name in lines[0] for name in names), lines[0]
    if secret:
        assert secret not in done.stderr + done.stdout
    return lines[0]


@pytest.mark.parametrize("command", [["tail", "voice"], ["worker"], ["edge"]])
def test_bad_credentials_and_certificates_end_in_one_line_within_seconds(
        stack: Stack, cluster: ApacheKafka, command: list[str], tmp_path: Path) -> None:
    good = {**role_env(stack, cluster, "operator"), "CXR_METRICS_PORT": "0",
            "CXR_EDGE_PORT": "0"}
    wrong_password = "not-the-password-" + uuid.uuid4().hex
    port = stack.bootstrap.rsplit(":", 1)[1]
    cases = {
        "wrong password": ({**good, "CXR_KAFKA_SASL_PASSWORD": wrong_password},
                           ["CXR_KAFKA_SASL_PASSWORD"]),
        "untrusted certificate": ({k: v for k, v in good.items()
                                   if k != "CXR_KAFKA_SSL_CA_FILE"},
                                  ["CXR_KAFKA_SSL_CA_FILE", "not trusted"]),
        "hostname mismatch": ({**good, "CXR_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"},
                              ["not for '127.0.0.1'", "CXR_KAFKA_SSL_CHECK_HOSTNAME"]),
    }
    for env, names in cases.values():
        started = time.monotonic()
        done = cli(env, *command, timeout=60)
        one_line_error(done, *names, secret=wrong_password)
        assert time.monotonic() - started < 30, "a wrong setting must not look like an outage"


def test_a_password_from_a_file_and_contradictions_named(stack: Stack, cluster: ApacheKafka,
                                                        tmp_path: Path) -> None:
    env = role_env(stack, cluster, "operator")
    password = env.pop("CXR_KAFKA_SASL_PASSWORD")
    secret_file = tmp_path / "password"
    secret_file.write_text(password + "\n")
    from_file = cli({**env, "CXR_KAFKA_SASL_PASSWORD_FILE": str(secret_file)},
                    "topics", "describe", "--json")
    assert from_file.returncode == 0, from_file.stderr
    both = cli({**env, "CXR_KAFKA_SASL_PASSWORD": password,
                "CXR_KAFKA_SASL_PASSWORD_FILE": str(secret_file)}, "topics", "describe")
    one_line_error(both, "CXR_KAFKA_SASL_PASSWORD and CXR_KAFKA_SASL_PASSWORD_FILE",
                   secret=password)
    no_mechanism = {k: v for k, v in env.items() if k != "CXR_KAFKA_SASL_MECHANISM"}
    one_line_error(cli({**no_mechanism, "CXR_KAFKA_SASL_PASSWORD": password}, "tail", "raw"),
                   "CXR_KAFKA_SASL_MECHANISM", secret=password)
