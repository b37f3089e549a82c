from __future__ import annotations

import pytest

from cxone_router.errors import ConfigurationError
from cxone_router.settings import load_settings


def test_defaults_match_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CXR_KAFKA_BOOTSTRAP", "CXR_EDGE_PORT", "CXR_TOPIC_PREFIX", "CXR_PARTITIONS"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.edge_host, settings.edge_port) == ("127.0.0.1", 8080)
    assert (settings.topic_prefix, settings.partitions) == ("cxone", 6)
    assert settings.dedup_ttl_seconds == 3600 and settings.max_body_bytes == 1024 * 1024
    assert settings.embedded and settings.idempotence is False  # the embedded broker can't


def test_idempotence_is_on_for_a_real_cluster_unless_turned_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXR_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.delenv("CXR_KAFKA_IDEMPOTENCE", raising=False)
    assert load_settings().idempotence is True
    monkeypatch.setenv("CXR_KAFKA_IDEMPOTENCE", "false")
    assert load_settings().idempotence is False


@pytest.mark.parametrize("name,value", [("CXR_EDGE_PORT", "eighty"), ("CXR_PARTITIONS", "0"),
                                        ("CXR_TOPIC_PREFIX", "bad prefix!"),
                                        ("CXR_LOG_FORMAT", "xml")])
def test_a_bad_value_stops_start_up_naming_the_variable(monkeypatch: pytest.MonkeyPatch,
                                                       name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        load_settings()


def test_a_misspelt_variable_is_named_with_the_setting_it_meant(
        caplog: pytest.LogCaptureFixture) -> None:
    from cxone_router.settings import warn_unknown_variables

    environ = {"CXR_PARTITION": "3", "CXR_PARTITIONS": "6", "CXR_CXONE_INSTANCE": "x",
               "CXR_TEST_BROKERS": "embedded", "PATH": "/bin"}
    with caplog.at_level("WARNING", logger="cxone_router.settings"):
        assert warn_unknown_variables(environ) == ["CXR_PARTITION"]
    assert [r.getMessage() for r in caplog.records] == [
        "unknown setting CXR_PARTITION ignored (did you mean CXR_PARTITIONS?)"]
