"""`cxone-router status`: figures from two scrapes, checked against hand-computed values."""

from __future__ import annotations

import asyncio
import math

import pytest
from rich.console import Console

from cxone_router.kafka.embedded import free_port
from cxone_router.observability.scrape import Scrape, fetch_all, new_client, parse
from cxone_router.observability.status import (
    Snapshot,
    Thresholds,
    figures,
    histogram_quantile,
    increase,
    rates,
    render,
    window_buckets,
)

INF = math.inf
EDGE, W1, W2 = "http://edge/metrics", "http://w1/metrics", "http://w2/metrics"
SLO = Thresholds(latency_seconds=1.0, freshness_seconds=30.0)


def scrape(url: str, at: float, text: str) -> Scrape:
    return Scrape(url, at, parse(text))


def down(url: str, at: float) -> Scrape:
    return Scrape(url, at, error="cannot connect")


def histogram(channel: str, counts: dict[str, float]) -> str:
    """Cumulative bucket lines of the end-to-end histogram, plus _count and _sum."""
    lines = [f'cxr_end_to_end_latency_seconds_bucket{{channel="{channel}",le="{le}"}} {n}'
             for le, n in counts.items()]
    lines.append(f'cxr_end_to_end_latency_seconds_count{{channel="{channel}"}} '
                 f'{counts["+Inf"]}')
    lines.append(f'cxr_end_to_end_latency_seconds_sum{{channel="{channel}"}} 0')
    return "\n".join(lines)


def worker_page(*, normalized: float, duplicates: float, buckets: dict[str, float],
                lag_seconds: dict[str, float], lag_records: dict[str, float], members: float,
                invalid_json: float = 0, missing: float = 0, partitions: float = 2) -> str:
    lines = [
        "# TYPE cxr_events_total counter",
        f'cxr_events_total{{channel="voice",outcome="normalized"}} {normalized}',
        f'cxr_events_total{{channel="voice",outcome="duplicate"}} {duplicates}',
        'cxr_events_total{channel="chat",outcome="normalized"} 0',
        'cxr_events_total{channel="unknown",outcome="dead_lettered"} 0',
        "# TYPE cxr_dead_letters_total counter",
        f'cxr_dead_letters_total{{reason="invalid_json"}} {invalid_json}',
        'cxr_dead_letters_total{reason="missing_field"} 0',
        "# TYPE cxr_missing_fields_total counter",
        f'cxr_missing_fields_total{{channel="voice",field="tenant.tenantId"}} {missing}',
        'cxr_missing_fields_total{channel="voice",field="contactId"} 0',
        "# TYPE cxr_end_to_end_latency_seconds histogram",
        histogram("voice", buckets),
        histogram("chat", {"0.1": 0, "1.0": 0, "+Inf": 0}),
        "# TYPE cxr_consumer_lag_seconds gauge",
        *[f'cxr_consumer_lag_seconds{{group="g",topic="raw",partition="{p}"}} {v}'
          for p, v in lag_seconds.items()],
        "# TYPE cxr_consumer_lag_records gauge",
        *[f'cxr_consumer_lag_records{{group="g",topic="raw",partition="{p}"}} {v}'
          for p, v in lag_records.items()],
        "# TYPE cxr_consumer_group_members gauge",
        f'cxr_consumer_group_members{{group="g"}} {members}',
        "# TYPE cxr_worker_assigned_partitions gauge",
        f"cxr_worker_assigned_partitions {partitions}",
        "# TYPE cxr_build_info gauge",
        'cxr_build_info{role="worker",version="9.9.9"} 1',
    ]
    return "\n".join(lines) + "\n"


def edge_page(accepted: float, bad: float, ready: float = 1) -> str:
    return "\n".join([
        "# TYPE cxr_edge_requests_total counter",
        f'cxr_edge_requests_total{{handler="webhook",status="202"}} {accepted}',
        f'cxr_edge_requests_total{{handler="webhook",status="400"}} {bad}',
        'cxr_edge_requests_total{handler="metrics",status="200"} 500',
        "# TYPE cxr_edge_requests_in_flight gauge",
        "cxr_edge_requests_in_flight 3",
        "# TYPE cxr_edge_broker_ready gauge",
        f"cxr_edge_broker_ready {ready}",
    ]) + "\n"


# ---- histogram_quantile ------------------------------------------------------------------

BUCKETS = {0.1: 10.0, 0.5: 30.0, 1.0: 40.0, INF: 40.0}


@pytest.mark.parametrize(("q", "expected"), [
    (0.5, 0.3),     # rank 20: bucket (0.1, 0.5] holds 20 (10..30) -> 0.1 + 0.4 * 10/20
    (0.99, 0.98),   # rank 39.6: bucket (0.5, 1] holds 10 (30..40) -> 0.5 + 0.5 * 9.6/10
    (0.05, 0.02),   # rank 2: first bucket starts at 0 -> 0.1 * 2/10
    (0.75, 0.5),    # rank 30: exactly the top of (0.1, 0.5]
])
def test_quantile_interpolates_within_the_bucket(q: float, expected: float) -> None:
    assert histogram_quantile(q, BUCKETS) == pytest.approx(expected)


def test_quantile_edge_cases() -> None:
    # rank in +Inf: the highest finite bound, as Prometheus answers
    assert histogram_quantile(0.99, {0.1: 1, 1.0: 1, INF: 10}) == 1.0
    assert histogram_quantile(0.5, {0.1: 0, INF: 0}) is None  # no observations
    assert histogram_quantile(0.5, {0.1: 5, 1.0: 5}) is None  # no +Inf bucket
    assert histogram_quantile(0.5, {}) is None
    # counts read at slightly different times may dip: made monotonic first, so rank 15
    # falls in (0.5, 1] with 10 below it (not 9): 0.5 + 0.5 * 5/10
    assert histogram_quantile(0.75, {0.1: 10, 0.5: 9, 1.0: 20, INF: 20}) == pytest.approx(0.75)


# ---- counters ----------------------------------------------------------------------------


def test_increase_treats_a_drop_as_a_reset() -> None:
    assert increase(100, 140) == 40
    assert increase(100, 10) == 10  # restarted, then counted 10
    assert increase(None, 7) == 7  # a series that appeared counts from zero


def test_rates_across_a_counter_reset() -> None:
    name = "cxr_events_total"
    prev = scrape(W1, 10.0, f'{name}{{channel="voice",outcome="normalized"}} 100\n'
                            f'{name}{{channel="chat",outcome="normalized"}} 50\n')
    cur = scrape(W1, 12.0, f'{name}{{channel="voice",outcome="normalized"}} 10\n'
                           f'{name}{{channel="chat",outcome="normalized"}} 90\n')
    assert rates(prev, cur, name, ["channel"]) == {("voice",): 5.0, ("chat",): 20.0}
    assert rates(prev, down(W1, 12.0), name, ["channel"]) is None
    assert rates(prev, prev, name, ["channel"]) is None  # no time elapsed


def test_window_buckets_after_a_restart_count_everything_since() -> None:
    name = "cxr_end_to_end_latency_seconds"
    prev = scrape(W1, 0, histogram("voice", {"0.1": 50, "1.0": 90, "+Inf": 100}))
    same = scrape(W1, 2, histogram("voice", {"0.1": 55, "1.0": 99, "+Inf": 110}))
    restarted = scrape(W1, 2, histogram("voice", {"0.1": 3, "1.0": 4, "+Inf": 4}))
    assert window_buckets(prev, same, name, channel="voice") == {0.1: 5, 1.0: 9, INF: 10}
    assert window_buckets(prev, restarted, name, channel="voice") == {0.1: 3, 1.0: 4, INF: 4}


# ---- the figures -------------------------------------------------------------------------


def two_workers() -> tuple[Snapshot, Snapshot]:
    """Two workers over 2 s: w1 handled 10 voice events (8 within 0.1 s), w2 10 more
    (all in (0.1, 1]); w2 sees the worse lag, w1 a larger figure for partition 1."""
    common = {"members": 2}
    prev = Snapshot(0.0, scrape(EDGE, 0.0, edge_page(accepted=100, bad=4)), (
        scrape(W1, 0.0, worker_page(normalized=40, duplicates=2, invalid_json=1, missing=0,
                                    buckets={"0.1": 30, "1.0": 40, "+Inf": 40},
                                    lag_seconds={"0": 1}, lag_records={"0": 1}, **common)),
        scrape(W2, 0.0, worker_page(normalized=0, duplicates=0,
                                    buckets={"0.1": 0, "1.0": 0, "+Inf": 0},
                                    lag_seconds={"0": 1}, lag_records={"0": 1}, **common)),
    ))
    cur = Snapshot(2.0, scrape(EDGE, 2.0, edge_page(accepted=120, bad=5)), (
        scrape(W1, 2.0, worker_page(normalized=50, duplicates=6, invalid_json=3, missing=4,
                                    buckets={"0.1": 38, "1.0": 50, "+Inf": 50},
                                    lag_seconds={"0": 0.5, "1": 2.0},
                                    lag_records={"0": 3, "1": 7}, **common)),
        scrape(W2, 2.0, worker_page(normalized=10, duplicates=0, members=3,
                                    buckets={"0.1": 0, "1.0": 10, "+Inf": 10},
                                    lag_seconds={"0": 12.5, "1": 0.0},
                                    lag_records={"0": 5, "1": 2})),
    ))
    return prev, cur


def test_figures_of_two_workers() -> None:
    status = figures(*two_workers(), SLO)

    assert status.window_seconds == 2.0
    assert status.down == []
    intake = status.intake
    assert intake is not None
    assert intake.accepted_per_second == 10.0  # (120 - 100) / 2
    assert intake.answers["400"].total == 5 and intake.answers["400"].per_second == 0.5
    assert "200" not in intake.answers  # handler="metrics" is not intake
    assert intake.in_flight == 3 and intake.broker_ready is True

    voice = status.channels["voice"]
    assert voice.normalized_per_second == 10.0  # (10 + 10) / 2
    assert voice.duplicates_per_second == 2.0  # (6 - 2) / 2
    assert voice.normalized_total == 60
    # window: 8 events <= 0.1 (w1), 4 + 10 in (0.1, 1] -> 20 events
    assert voice.events_in_window == 20
    assert voice.p50_seconds == pytest.approx(0.1 + 0.9 * (10 - 8) / 12)
    assert voice.p99_seconds == pytest.approx(0.1 + 0.9 * (19.8 - 8) / 12)
    assert voice.latency_ok is True
    chat = status.channels["chat"]
    assert chat.events_in_window == 0 and chat.p99_seconds is None and chat.latency_ok is None
    assert "unknown" not in status.channels

    assert status.lag.seconds == 12.5  # max over partitions and workers
    assert status.lag.records == 5 + 7  # p0: max(3, 5); p1: max(7, 2)
    assert status.lag.ok is True
    assert status.members == 3

    assert status.dead_letters["invalid_json"].total == 3
    assert status.dead_letters["invalid_json"].per_second == 1.0
    assert status.dead_letters["missing_field"].total == 0

    assert [(d.channel, d.field, d.total, d.per_second) for d in status.drift] == [
        ("voice", "tenant.tenantId", 4, 2.0)]  # contactId stays 0: not drift

    assert [(t.role, t.url, t.up, t.assigned_partitions) for t in status.targets] == [
        ("edge", EDGE, True, None), ("worker", W1, True, 2), ("worker", W2, True, 2)]
    assert status.targets[1].version == "9.9.9"


def test_p99_over_the_threshold_is_not_ok_and_lag_over_freshness_is_not_ok() -> None:
    status = figures(*two_workers(), Thresholds(latency_seconds=0.5, freshness_seconds=10))
    assert status.channels["voice"].latency_ok is False
    assert status.lag.ok is False


def test_a_down_target_is_reported_and_left_out() -> None:
    prev, cur = two_workers()
    cur = Snapshot(cur.at, down(EDGE, 2.0), (cur.workers[0], down(W2, 2.0)))
    status = figures(prev, cur, SLO)

    assert status.down == [EDGE, W2]
    assert [(t.up, t.error) for t in status.targets] == [
        (False, "cannot connect"), (True, None), (False, "cannot connect")]
    assert status.intake is None
    voice = status.channels["voice"]
    assert voice.normalized_per_second == 5.0  # w1 alone
    assert voice.events_in_window == 10
    assert status.lag.seconds == 2.0  # w2's 12.5 is not current
    assert status.members == 2
    data = status.to_json()
    assert data["intake"] is None and data["edge"]["up"] is False
    assert data["workers"]["targets"][1] == {"url": W2, "up": False, "error": "cannot connect",
                                             "version": None, "assigned_partitions": None}


def test_a_target_down_in_the_first_scrape_counts_as_down() -> None:
    prev, cur = two_workers()
    prev = Snapshot(prev.at, prev.edge, (prev.workers[0], down(W2, 0.0)))
    status = figures(prev, cur, SLO)
    assert status.down == [W2]
    assert status.targets[2].error == "first scrape: cannot connect"
    assert status.channels["voice"].normalized_per_second == 5.0  # no rate without w2's pair


def test_one_snapshot_gives_totals_and_no_rates() -> None:
    _, cur = two_workers()
    status = figures(cur, cur, SLO)
    voice = status.channels["voice"]
    assert voice.normalized_total == 60
    assert voice.normalized_per_second is None and voice.p99_seconds is None
    assert status.dead_letters["invalid_json"].per_second is None


def test_json_shape() -> None:
    data = figures(*two_workers(), SLO).to_json()
    assert set(data) == {"window_seconds", "slo", "edge", "intake", "channels", "lag",
                         "dead_letters", "drift", "workers", "down"}
    assert data["slo"] == {"latency_seconds": 1.0, "freshness_seconds": 30.0}
    assert data["channels"]["chat"]["p99_seconds"] is None
    assert data["channels"]["voice"]["normalized_per_second"] == 10
    assert data["dead_letters"]["invalid_json"] == {"total": 3, "per_second": 1}
    assert data["drift"] == {"pairs": 1, "fields": [
        {"channel": "voice", "field": "tenant.tenantId", "total": 4, "per_second": 2}]}
    assert data["lag"] == {"seconds": 12.5, "records": 12, "ok": True}
    assert data["workers"]["members"] == 3


# ---- the screen --------------------------------------------------------------------------


def screen(prev: Snapshot, cur: Snapshot, thresholds: Thresholds = SLO) -> str:
    console = Console(record=True, width=140, color_system="truecolor")
    console.print(render(figures(prev, cur, thresholds)))
    return console.export_text()


def test_screen_shows_channels_p99_against_the_slo_and_targets() -> None:
    text = screen(*two_workers())
    voice = next(line for line in text.splitlines() if line.strip().startswith("voice"))
    assert voice.split() == ["voice", "10.0/s", "250.0", "ms", "985.0", "ms", "2.0/s"]
    chat = next(line for line in text.splitlines() if line.strip().startswith("chat"))
    assert chat.split() == ["chat", "0.0/s", "-", "-", "0.0/s"]
    assert "oldest unprocessed 12.50 s (SLO <= 30.00 s)   12 records behind" in text
    assert "accepted 10.0/s" in text and "400 0.5/s (5)" in text
    assert "invalid_json" in text and "tenant.tenantId" in text
    assert "group members: 3" in text


def test_screen_colours_p99_by_the_slo() -> None:
    def p99_style(thresholds: Thresholds) -> str:
        console = Console(record=True, width=140, color_system="truecolor")
        console.print(render(figures(*two_workers(), thresholds)))
        html = console.export_html(inline_styles=True)
        start = html.index("985.0")
        return html[html.rindex("<span", 0, start):start]

    assert "#008000" in p99_style(SLO)  # green
    assert "#800000" in p99_style(Thresholds(0.5, 30))  # red


def test_screen_names_a_down_target() -> None:
    prev, cur = two_workers()
    text = screen(prev, Snapshot(cur.at, cur.edge, (cur.workers[0], down(W2, 2.0))))
    row = next(line for line in text.splitlines() if W2 in line)
    assert row.split()[:5] == ["worker", W2, "DOWN:", "cannot", "connect"]
    assert "DOWN" not in next(line for line in text.splitlines() if W1 in line)


# ---- scraping ----------------------------------------------------------------------------


def test_parse_keeps_full_sample_names() -> None:
    samples = parse("# TYPE cxr_events_total counter\n"
                    'cxr_events_total{channel="sms",outcome="normalized"} 3\n')
    assert [(s.name, s.labels, s.value) for s in samples] == [
        ("cxr_events_total", (("channel", "sms"), ("outcome", "normalized")), 3.0)]


def test_a_closed_port_is_a_down_scrape_not_an_exception() -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"

    async def go() -> list[Scrape]:
        async with new_client() as client:
            return await fetch_all(client, [url, "not a url"])

    closed, invalid = asyncio.run(go())
    assert (closed.url, closed.up, closed.error) == (url, False, "cannot connect")
    assert not invalid.up and invalid.error
