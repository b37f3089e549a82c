"""The edge's view of the raw topic's replicas, from the brokers' metadata."""

from __future__ import annotations

from cxone_router.edge.publisher import Replicas


def partition(replicas: list[int], isr: list[int]) -> dict[str, object]:
    return {"error_code": 0, "partition": 0, "leader": isr[0] if isr else -1,
            "replicas": replicas, "isr": isr}


def test_a_lagging_replica_is_under_replicated_and_under_min_isr_only_below_two() -> None:
    three = [1, 2, 3]
    replicas = Replicas.of([partition(three, three), partition(three, [1, 2]),
                            partition(three, [3]), partition(three, [])], min_isr=2)
    assert replicas == Replicas(partitions=4, under_replicated=3, under_min_isr=2)


def test_one_replica_topics_are_never_under_their_min_isr_of_one_while_led() -> None:
    replicas = Replicas.of([partition([1], [1]), partition([1], [1])], min_isr=1)
    assert replicas == Replicas(partitions=2, under_replicated=0, under_min_isr=0)
