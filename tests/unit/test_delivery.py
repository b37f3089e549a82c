"""How the writer cuts a partition's outputs into record batches, and where it puts a key."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from cxone_router.agents.delivery import Output, _record_batches, key_partition


def builder(size: int) -> BatchBuilder:
    return BatchBuilder(size, 0)


def outputs(n: int, size: int = 100) -> list[Output]:
    return [Output("t", f"k{i}".encode(), bytes(size), [("h", b"v")]) for i in range(n)]


def test_batches_keep_order_fill_up_and_are_closed() -> None:
    outs = outputs(50)
    batches = list(_record_batches(outs, 10_000, set(), lambda: builder(1_000)))
    assert [o for batch, _ in batches for o in batch] == outs
    assert len(batches) > 5
    for batch, b in batches:
        assert b is not None and b.closed() and b.record_count() == len(batch)
        assert b.size() <= 1_000


def test_a_record_over_the_limit_is_alone_and_not_built() -> None:
    outs = outputs(3)
    outs.insert(1, Output("t", b"big", bytes(5_000)))
    batches = list(_record_batches(outs, 2_000, set(), lambda: builder(1_000)))
    assert [([o.key for o in batch], b is None) for batch, b in batches] == [
        ([b"k0"], False), ([b"big"], True), ([b"k1", b"k2"], False)]


def test_outputs_marked_alone_get_a_record_batch_each() -> None:
    outs = outputs(5)
    alone = {id(outs[2]), id(outs[3])}
    batches = list(_record_batches(outs, 10_000, alone, lambda: builder(100_000)))
    assert [[o.key for o in batch] for batch, _ in batches] == [
        [b"k0", b"k1"], [b"k2"], [b"k3"], [b"k4"]]


def test_keys_go_where_kafkas_default_partitioner_puts_them() -> None:
    partitioner = DefaultPartitioner()
    for n in (1, 3, 6, 7, 64):
        for key in (b"", b"a", b"interaction-42", "é-\u2603".encode(), bytes(range(37))):
            assert key_partition(key, n) == partitioner(key, list(range(n)), [])
