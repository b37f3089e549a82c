"""The edge's partitioner picks the partition Kafka's default partitioner picks.

Invariant: for any key and partition count, `partition_of` equals aiokafka's
DefaultPartitioner (the Java client's murmur2), so every producer of the raw topic puts an
interaction's events on the same partition, in order.
"""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2

from cxone_router.kafka.partition import murmur2, partition_of


def test_murmur2_equals_the_java_clients_for_every_length_and_tail() -> None:
    rng = random.Random(17)
    for length in range(300):  # every tail (length % 4), past the precompiled word counts
        for _ in range(8):
            key = rng.randbytes(length)
            assert murmur2(key) == reference_murmur2(key), key


def test_known_java_values() -> None:
    # org.apache.kafka.common.utils.UtilsTest#testMurmur2, as unsigned 32-bit integers
    assert murmur2(b"21") & 0xFFFFFFFF == (-973932308) & 0xFFFFFFFF
    assert murmur2(b"foobar") & 0xFFFFFFFF == (-790332482) & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") & 0xFFFFFFFF == (-985981536) & 0xFFFFFFFF


def test_the_partition_is_the_default_partitioners_whatever_is_available() -> None:
    rng = random.Random(7)
    default = DefaultPartitioner()
    for _ in range(2000):
        key = f"bench-{rng.randrange(10**9)}-{rng.randrange(10**6)}".encode()
        partitions = list(range(rng.randint(1, 64)))
        available = rng.sample(partitions, rng.randint(0, len(partitions)))
        assert partition_of(key, partitions, available) == default(key, partitions, available)
