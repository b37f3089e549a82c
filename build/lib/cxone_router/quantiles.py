"""Quantiles of measured latencies, on one scale (0 <= q <= 1, as Prometheus's
`histogram_quantile`) and by one rule: the nearest rank, the smallest value with at least
a fraction q of them at or below it."""

from __future__ import annotations

import math
from collections.abc import Iterable


def nearest_rank(q: float, count: int) -> int:
    """The 1-based rank of the q-quantile of `count` (> 0) ordered values."""
    return min(count, max(1, math.ceil(round(q * count, 9))))  # 0.29 * 100 is 28.999...


def quantile(values: Iterable[float], q: float) -> float:
    """The q-quantile of `values` (0.0 for none)."""
    ordered = sorted(values)
    return ordered[nearest_rank(q, len(ordered)) - 1] if ordered else 0.0
