"""The summary's numbers: quantiles within a bucket of the truth, JSON for scripts."""

from __future__ import annotations

import random

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from cxone_router.quantiles import quantile
from cxone_router.simulate.summary import LatencyHistogram, Tally


@settings(max_examples=50, deadline=None)
@given(
    samples=st.lists(st.floats(min_value=1e-5, max_value=30.0), min_size=1, max_size=500),
    q=st.sampled_from([0.5, 0.9, 0.99, 1.0]),
)
def test_quantiles_are_within_one_bucket_of_exact(samples: list[float], q: float) -> None:
    histogram = LatencyHistogram()
    for s in samples:
        histogram.record(s)
    exact = quantile(samples, q)  # what the benchmarks report for the same samples
    estimate = histogram.quantile(q)
    assert estimate is not None
    assert exact * 0.999 <= estimate <= exact * 1.021
    assert histogram.quantile(1.0) == max(samples)


def test_an_empty_histogram_has_no_quantiles() -> None:
    assert LatencyHistogram().quantile(0.5) is None


def test_the_quantile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1 .. 100, in any order
    assert [quantile(values, q) for q in (0.0, 0.01, 0.29, 0.5, 0.95, 0.99, 1.0)] == [
        1.0, 1.0, 29.0, 50.0, 95.0, 99.0, 100.0]
    assert quantile([7.0], 0.5) == 7.0 and quantile([], 0.99) == 0.0


def test_summary_json_has_every_counter() -> None:
    tally = Tally(sent=10, accepted=8, rejected=1, lost=1, retried=3, duplicates_sent=2)
    rng = random.Random(1)
    for _ in range(8):
        tally.latency.record(rng.uniform(0.001, 0.01))
    tally.statuses.update({"202": 8, "400": 1, "timeout": 1})
    summary = tally.summary(elapsed=2.0, seed=42)
    data = orjson.loads(summary.to_json())

    assert data["sent"] == 10 and data["accepted"] == 8 and data["retried"] == 3
    assert data["duplicates_sent"] == 2 and data["rejected"] == 1 and data["lost"] == 1
    assert data["achieved_rate"] == 5.0
    assert set(data["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert 1.0 <= data["latency_ms"]["p50"] <= 10.0
    assert data["ok"] is False and data["seed"] == 42
    text = summary.to_text()
    for label in ("sent", "accepted", "retried", "rejected", "achieved rate", "p99"):
        assert label in text
