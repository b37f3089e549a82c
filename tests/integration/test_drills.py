"""The fault drills in their short form, on their own three-node Apache Kafka cluster:
under traffic, whatever fails, nothing the edge accepted (202) is lost, and with exactly
once (the default there) nothing is written twice. The full figures are `cxone-router
drill`'s, recorded in RELIABILITY.md."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.drills.runner import run_drill
from pipeline.drills.scenarios import DRILLS, SHORT, Drill
from pipeline.kafka.apache import ApacheKafka

pytestmark = [pytest.mark.integration, pytest.mark.apache]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafka]:
    with ApacheKafka(nodes=3, folder=tmp_path_factory.mktemp("drills") / "kafka") as running:
        yield running


@pytest.mark.parametrize("drill", DRILLS, ids=[d.name for d in DRILLS])
def test_no_accepted_event_is_lost(cluster: ApacheKafka, drill: Drill,
                                   tmp_path: Path) -> None:
    result = run_drill(cluster, drill, SHORT, tmp_path, print)
    assert result.accepted > SHORT.rate * SHORT.warmup / 2, result  # traffic did flow
    assert result.lost == 0, result
    assert result.unfinished == 0, result  # every event was answered 202 in the end
    if drill.redeliver:  # the dedup table came back from its changelog after the restart
        assert result.checks["redelivered"] == SHORT.redeliveries, result
        assert result.checks["redelivered_emitted_again"] == 0, result
    if drill.check_raw:  # the edge answered 202 only for what the broker had
        assert result.checks["accepted_not_on_raw"] == 0, result
    # exactly once, Apache Kafka's default: read_committed, no event twice on any topic
    assert result.checks["processing_guarantee"] == "exactly_once", result
    assert result.duplicates == 0, result
    assert result.checks["fanout_duplicates"] == 0, result
    if drill.aborts:  # the fault hit open transactions: their writes were aborted, unseen
        assert result.checks["aborted_records"] > 0, result
