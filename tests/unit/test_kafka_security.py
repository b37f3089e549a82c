"""TLS and SASL settings: whole or refused naming the variables, secrets from files, and
never a secret in a message; the ACLs of each role, and reading the brokers' answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxone_router.errors import ConfigurationError
from cxone_router.kafka.acls import Acl, AclError, Operation, Pattern, Resource, acls_for
from cxone_router.kafka.clients import Connection
from cxone_router.kafka.permissions import UNKNOWN_OPERATIONS, _missing
from cxone_router.kafka.topics import Topics
from cxone_router.settings import SECRET_FIELDS, Settings, load_settings

PASSWORD = "s3cret-password-never-shown"
SASL = {"kafka_bootstrap": "kafka:9093", "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_username": "edge",
        "kafka_sasl_password": PASSWORD}


def refused(**values: object) -> str:
    with pytest.raises(ConfigurationError) as error:
        load_settings(**values)
    assert PASSWORD not in str(error.value)
    return str(error.value)


def test_sasl_needs_its_mechanism_user_and_password() -> None:
    message = refused(kafka_bootstrap="kafka:9093", kafka_security_protocol="SASL_SSL",
                      kafka_sasl_username="edge")
    assert "CXR_KAFKA_SASL_MECHANISM" in message and "CXR_KAFKA_SASL_PASSWORD" in message
    assert "CXR_KAFKA_SASL_USERNAME" not in message.split("needs", 1)[1]


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
def test_sasl_settings_without_a_sasl_protocol_are_a_contradiction(protocol: str) -> None:
    message = refused(**{**SASL, "kafka_security_protocol": protocol})
    assert "CXR_KAFKA_SASL_USERNAME" in message
    assert f"CXR_KAFKA_SECURITY_PROTOCOL={protocol} uses no SASL" in message


def test_tls_files_without_tls_and_half_a_client_certificate_are_refused(
        tmp_path: Path) -> None:
    pem = tmp_path / "client.pem"
    pem.write_text("not read here")
    message = refused(**{**SASL, "kafka_security_protocol": "SASL_PLAINTEXT",
                         "kafka_ssl_ca_file": str(pem)})
    assert "CXR_KAFKA_SSL_CA_FILE set, but CXR_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT" in message
    assert "CXR_KAFKA_SSL_KEY_FILE" in refused(**{**SASL, "kafka_ssl_cert_file": str(pem)})
    assert f"no file at {tmp_path / 'ca.pem'}" in refused(
        **{**SASL, "kafka_ssl_ca_file": str(tmp_path / "ca.pem")})


def test_security_needs_a_bootstrap_the_embedded_broker_speaks_plaintext_only() -> None:
    message = refused(**{**SASL, "kafka_bootstrap": None})
    assert "CXR_KAFKA_BOOTSTRAP" in message


@pytest.mark.parametrize("name", SECRET_FIELDS)
def test_every_secret_can_come_from_a_file(name: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    value = "from-a-file-0123456789"
    secret = tmp_path / name
    secret.write_text(value + "\n")  # as `echo` and most secret stores write it
    variable = f"CXR_{name.upper()}"
    monkeypatch.setenv(f"{variable}_FILE", str(secret))
    monkeypatch.setenv("CXR_KAFKA_BOOTSTRAP", "kafka:9093")
    if name.startswith("kafka_sasl"):
        for key, setting in SASL.items():
            if key != "kafka_sasl_password":
                monkeypatch.setenv(f"CXR_{key.upper()}", str(setting))
    if name == "kafka_ssl_key_password":
        monkeypatch.setenv("CXR_KAFKA_SECURITY_PROTOCOL", "SSL")
        monkeypatch.setenv("CXR_KAFKA_SSL_CERT_FILE", str(secret))
        monkeypatch.setenv("CXR_KAFKA_SSL_KEY_FILE", str(secret))
    settings = load_settings()
    assert getattr(settings, name).get_secret_value() == value
    assert value not in repr(settings) and value not in str(settings.model_dump())
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=f"{variable} and {variable}_FILE"):
        load_settings()


def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    message = refused(kafka_sasl_password_file=str(tmp_path / "missing"))
    assert "CXR_KAFKA_SASL_PASSWORD_FILE: cannot read" in message


def test_the_connection_never_shows_the_password(tmp_path: Path) -> None:
    kafka = Connection.of(Settings(**SASL))  # type: ignore[arg-type]
    assert PASSWORD not in repr(kafka) and PASSWORD not in kafka.security.describe()
    assert kafka.options()["sasl_plain_password"] == PASSWORD  # but the client gets it
    assert kafka.options()["ssl_context"].check_hostname  # hostname verification by default


def test_a_bad_client_certificate_stops_start_up_in_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    settings = Settings(kafka_bootstrap="kafka:9093", kafka_security_protocol="SSL",
                        kafka_ssl_cert_file=junk, kafka_ssl_key_file=junk)
    with pytest.raises(ConfigurationError, match="CXR_KAFKA_SSL_CERT_FILE"):
        Connection.of(settings)


# ---- ACLs --------------------------------------------------------------------------------

TOPICS = Topics("cx", ("voice", "chat"), ("analytics", "crm-sync"))


def grants(role: str, **options: str) -> set[tuple[str, str, str, str]]:
    return {(a.operation.name, a.resource.name, a.name, a.pattern.name)
            for a in acls_for(role, "User:x", TOPICS, **options)}


def test_the_edge_may_only_write_the_raw_topic() -> None:
    assert grants("edge") == {("WRITE", "TOPIC", "cx.webhooks.raw", "LITERAL")}


def test_a_worker_reads_raw_with_its_group_and_writes_its_outputs_and_own_topics() -> None:
    acls = grants("worker")
    writes = {name for op, kind, name, _ in acls if op == "WRITE" and kind == "TOPIC"}
    assert writes == {"cx.interactions.voice", "cx.interactions.chat", "cx.fanout.analytics",
                      "cx.fanout.crm-sync", "cx.webhooks.dlq", "cx-router-"}
    assert ("READ", "TOPIC", "cx.webhooks.raw", "LITERAL") in acls
    assert ("READ", "GROUP", "cx-router", "LITERAL") in acls
    assert {op for op, kind, name, pattern in acls if pattern == "PREFIXED" and kind == "TOPIC"
            } == {"READ", "WRITE", "CREATE", "DESCRIBE"}  # Faust's changelog and assignor
    # exactly once: a transactional producer per raw partition, `cx-router-<partition>`
    assert {(op, name) for op, kind, name, pattern in acls if kind == "TRANSACTIONAL_ID"
            } == {("WRITE", "cx-router-"), ("DESCRIBE", "cx-router-")}
    assert not any(name == "cx.webhooks.raw" and op == "WRITE" for op, _, name, _ in acls)


def test_an_operator_reads_everything_and_writes_raw_and_outputs_but_not_the_dlq() -> None:
    acls = grants("operator")
    assert {name for op, _, name, _ in acls if op == "READ"} == set(TOPICS.all())
    assert {name for op, _, name, _ in acls if op == "WRITE"} == set(TOPICS.all()) - {
        "cx.webhooks.dlq"}
    assert {op for op, *_ in acls} == {"READ", "WRITE", "DESCRIBE_CONFIGS"}
    assert not any(kind == "GROUP" for _, kind, *_ in acls)  # commands read without one


def test_a_consumer_reads_its_route_with_its_group_and_nothing_else() -> None:
    assert grants("consumer", route="analytics") == {
        ("READ", "TOPIC", "cx.fanout.analytics", "LITERAL"),
        ("READ", "GROUP", "cx.analytics", "LITERAL")}
    assert ("READ", "GROUP", "bi-team", "LITERAL") in grants("consumer", route="analytics",
                                                             group="bi-team")
    with pytest.raises(AclError, match="no route 'billing'"):
        grants("consumer", route="billing")
    with pytest.raises(AclError, match="--route"):
        grants("edge", route="analytics")


def test_the_brokers_answer_names_what_is_missing() -> None:
    raw = Acl("User:x", Resource.TOPIC, "cx.webhooks.raw", Pattern.LITERAL, Operation.READ)
    own = Acl("User:x", Resource.TOPIC, "cx-router-", Pattern.PREFIXED, Operation.CREATE)
    read_only = 1 << Operation.READ | 1 << Operation.DESCRIBE
    assert _missing([raw, own], {"cx.webhooks.raw": (0, read_only)}) == []
    assert _missing([raw], {"cx.webhooks.raw": (0, 1 << Operation.WRITE)}) == [raw]
    assert _missing([raw], {"cx.webhooks.raw": (29, UNKNOWN_OPERATIONS)}) == [raw]
    assert _missing([raw], {"cx.webhooks.raw": (0, UNKNOWN_OPERATIONS)}) == []  # can't tell
    assert _missing([own], {"cx-router-dedup-changelog": (29, 0)}) == [own]
    assert _missing([own], {"cx-router-dedup-changelog": (3, 0)}) == []  # not created yet
