"""Sharing a batch's record budget across partitions (Kafka offsets, Event Hubs sequence numbers)."""

from __future__ import annotations

from collections.abc import Mapping


def share_budget(backlog: Mapping[str, int], budget: int | None) -> dict[str, int]:
    """Split ``budget`` records across partitions fairly (water-filling), deterministic.

    Partitions with a small backlog take all of it; the rest is shared equally among the
    others. Without a budget every partition takes its whole backlog.
    """
    if budget is None:
        return {k: max(0, n) for k, n in backlog.items()}
    take = {k: 0 for k in backlog}
    remaining = budget
    order = sorted((n, k) for k, n in backlog.items() if n > 0)
    for i, (n, k) in enumerate(order):
        share = remaining // (len(order) - i)
        take[k] = min(n, max(share, 0))
        remaining -= take[k]
    return take
