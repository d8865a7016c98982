"""The server's own latency histograms, read from its `/metrics` (127.0.0.1 is allowed).

Percentiles are interpolated within the histogram's buckets, as Prometheus's histogram_quantile
does. The load generator reads them before and after each durable step, so a step's figure is
the difference: what the server measured during that step only.
"""

from __future__ import annotations

import http.client
import math
from typing import Any

Histogram = dict[str, Any]  # {"buckets": [(upper bound s, cumulative count)], "count": n, "sum": s}


def read(port: int, names: tuple[str, ...]) -> dict[str, Histogram]:
    """Those of `names` the server has (without the `openspace_` prefix); {} if it serves no metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        text = response.read().decode()
        if response.status != 200:
            return {}
    finally:
        conn.close()
    found: dict[str, Histogram] = {}
    for family in text_string_to_metric_families(text):
        if family.name in names:
            buckets = ((float(s.labels["le"]), s.value) for s in family.samples if s.name.endswith("_bucket"))
            found[family.name.removeprefix("openspace_")] = {
                "buckets": sorted(buckets),
                "count": next((s.value for s in family.samples if s.name.endswith("_count")), 0.0),
                "sum": next((s.value for s in family.samples if s.name.endswith("_sum")), 0.0),
            }
    return found


def minus(after: Histogram, before: Histogram | None) -> Histogram:
    """What was observed between two reads of the same histogram."""
    if not before:
        return after
    earlier = dict(before["buckets"])
    return {
        "buckets": [(upper, count - earlier.get(upper, 0.0)) for upper, count in after["buckets"]],
        "count": after["count"] - before["count"],
        "sum": after["sum"] - before["sum"],
    }


def summary(histogram: Histogram) -> dict[str, Any]:
    count = histogram["count"]
    return {
        "count": count,
        "mean_ms": 1000 * histogram["sum"] / count if count else None,
        "p50_ms": quantile(0.50, histogram["buckets"]),
        "p99_ms": quantile(0.99, histogram["buckets"]),
    }


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile on cumulative (upper bound, count) pairs, in ms."""
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return 1000 * lower
            return 1000 * (lower + (upper - lower) * (rank - below) / max(count - below, 1e-9))
        lower, below = upper, count
    return None
