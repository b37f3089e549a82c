"""The SLO file: operators' mistakes stop whoever reads it, naming the file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from cxone_router.mapping.errors import MappingError
from cxone_router.metrics import latency_buckets
from cxone_router.observability.slo import load_slos, parse_slos

SHIPPED = orjson.loads(Path("schemas/slos.json").read_bytes())


def edited(**changes: Any) -> bytes:
    data = orjson.loads(orjson.dumps(SHIPPED))
    for slo in data["slos"]:
        if slo["kind"] == changes.get("kind", "latency"):
            slo.update(changes.get("slo", {}))
    data.update(changes.get("top", {}))
    return orjson.dumps(data)


def test_the_shipped_file_has_the_four_slos_the_product_promises() -> None:
    slos = load_slos(Path("schemas"))
    assert {s.kind: (s.target, s.threshold_seconds, s.window) for s in slos.slos} == {
        "availability": (99.9, None, "30d"), "latency": (99, 1, "30d"),
        "freshness": (99.9, 30, "30d"), "dead_letters": (99.9, None, "30d")}


@pytest.mark.parametrize(("data", "message"), [
    (edited(slo={"target": 100}), "slos.1.target"),
    (edited(slo={"window": "30 days"}), "slos.1.window"),
    (edited(slo={"threshold_seconds": None}), "needs threshold_seconds"),
    (edited(slo={"kind": "speed"}), "slos.1.kind"),
    (edited(slo={"targte": 99}), "slos.1.targte"),
    (edited(top={"burn_rate_alerts": [{"severity": "page", "budget_spent": 0.02,
                                       "long_window": "5m", "short_window": "1h"}]}),
     "must be shorter"),
    # the factor is derived now: a file that still writes it is told which field is wrong
    (edited(top={"burn_rate_alerts": [{"severity": "page", "burn_rate": 14.4,
                                       "long_window": "1h", "short_window": "5m"}]}),
     "burn_rate_alerts.0.burn_rate: Extra inputs"),
    # 50 % of a 30-day budget in 1 h is 360x: more than a 99 % SLO's SLI can ever show
    (edited(top={"burn_rate_alerts": [{"severity": "page", "budget_spent": 0.5,
                                       "long_window": "1h", "short_window": "5m"}]}),
     "burn_rate_alerts.0: spending 0.5 of slos[end-to-end-latency]'s budget in 1h takes "
     "a burn rate of 360"),
    (edited(top={"burn_rate_alerts": [{"severity": "ticket", "budget_spent": 0.5,
                                       "long_window": "60d", "short_window": "1d"}]}),
     "long_window 60d is longer than slos[edge-availability]'s window 30d"),
    (b"{", "not JSON"),
])
def test_a_mistake_names_the_file_and_the_field(data: bytes, message: str) -> None:
    with pytest.raises(MappingError, match="slos.json") as caught:
        parse_slos(data, "schemas/slos.json")
    assert message in str(caught.value)


def test_every_latency_threshold_is_a_bucket_bound_exactly() -> None:
    slos = parse_slos(edited(slo={"threshold_seconds": 0.75}), "slos.json")
    assert 0.75 in latency_buckets(slos.latency_thresholds())
    assert max(latency_buckets()) >= 60
