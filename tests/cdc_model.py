"""A plain-Python reference model of the merge strategies, and a CDC event generator.

The model is written from the documented semantics (``odibi_stream.engines.merge_sql``), not
from the implementation: it walks the batches in order and keeps the table as Python dicts.
Tests compare the Delta table a pipeline wrote with :func:`expected_scd2` /
:func:`expected_upsert` over the same event list.

Events are dicts with ``id`` (key), ``seq`` (sequence), ``op`` (``I``/``U``/``D``) and value
columns; a batch is a list of events in input order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Event = dict[str, Any]
VALUE_COLUMNS = ("name", "amount")


def _latest(events: Sequence[Event]) -> Event:
    """The winner among one key's changes: highest seq (NULL lowest), a delete, the later row."""
    ranked = sorted(
        enumerate(events),
        key=lambda ie: (ie[1]["seq"] is not None, ie[1]["seq"] or 0, ie[1]["op"] == "D", ie[0]),
    )
    return ranked[-1][1]


def _by_key(batch: Sequence[Event]) -> dict[Any, list[Event]]:
    out: dict[Any, list[Event]] = {}
    for e in batch:
        out.setdefault(e["id"], []).append(e)
    return out


def expected_upsert(batches: Sequence[Sequence[Event]], *, soft: bool = False) -> dict[Any, dict[str, Any]]:
    """Final rows by key after upserts with sequence_by=seq and deletes on op = 'D'."""
    table: dict[Any, dict[str, Any]] = {}
    for batch in batches:
        for key, events in _by_key(batch).items():
            e = _latest(events)
            row = table.get(key)
            if row is not None and row["seq"] is not None and not (e["seq"] is not None and e["seq"] > row["seq"]):
                continue  # not newer than the table: ignored
            if e["op"] == "D":
                if soft:
                    base = row or {"id": key, **{c: e.get(c) for c in VALUE_COLUMNS}}
                    table[key] = {**base, "seq": e["seq"], "_is_deleted": True}
                else:
                    table.pop(key, None)
                continue
            table[key] = {"id": key, "seq": e["seq"], **{c: e.get(c) for c in VALUE_COLUMNS}}
            if soft:
                table[key]["_is_deleted"] = False
    return table


def expected_scd2(batches: Sequence[Sequence[Event]]) -> list[dict[str, Any]]:
    """Every version row after SCD2 merges with sequence_by=seq and hard deletes on op = 'D'."""
    versions: dict[Any, list[dict[str, Any]]] = {}
    for batch in batches:
        for key, events in _by_key(batch).items():
            history = versions.setdefault(key, [])
            known = max((v["_valid_to"] if v["_valid_to"] is not None else v["_valid_from"] for v in history), default=None)
            per_seq: dict[Any, list[Event]] = {}
            for e in events:
                if e["seq"] is not None:
                    per_seq.setdefault(e["seq"], []).append(e)
            changes = sorted((_latest(es) for es in per_seq.values()), key=lambda e: e["seq"])
            for e in changes:
                if known is not None and e["seq"] <= known:
                    continue  # late: older than what the table holds
                for v in history:
                    if v["_is_current"]:
                        v["_valid_to"], v["_is_current"] = e["seq"], False
                if e["op"] != "D":
                    history.append(
                        {"id": key, "seq": e["seq"], **{c: e.get(c) for c in VALUE_COLUMNS},
                         "_valid_from": e["seq"], "_valid_to": None, "_is_current": True}
                    )
    return [v for history in versions.values() for v in history]


@dataclass
class CdcFeed:
    """Rounds of CDC events, each round one batch per partition of ``per_partition`` events."""

    rounds: list[list[Event]]
    partitions: int

    @property
    def events(self) -> int:
        """Total number of events."""
        return sum(len(r) for r in self.rounds)


def cdc_feed(seed: int, *, rounds: int, partitions: int, per_partition: int, keys: int, late: float = 0.03) -> CdcFeed:
    """Random inserts/updates/deletes: several changes per key per round, shuffled in the round.

    Keys live on partition ``id % partitions``. Every change of round r has a sequence above all
    of round r-1's, except deliberate *late* events (``late`` of them) that reuse an older
    sequence of their key and must be ignored.
    """
    rng = random.Random(seed)
    seq = 1_000
    alive: set[int] = set()
    last_seq: dict[int, int] = {}
    out: list[list[Event]] = []
    for _ in range(rounds):
        events: list[Event] = []
        for p in range(partitions):
            mine = [k for k in range(keys) if k % partitions == p]
            chosen = [rng.choice(mine) for _ in range(per_partition)]
            for key in chosen:
                seq += rng.randint(1, 3)
                if key in last_seq and rng.random() < late:
                    events.append(_event(rng, key, rng.randint(last_seq[key] - 50, last_seq[key] - 1), "U"))
                    continue
                op = "I" if key not in alive else ("D" if rng.random() < 0.12 else "U")
                (alive.discard if op == "D" else alive.add)(key)
                events.append(_event(rng, key, seq, op))
        for e in events:
            last_seq[e["id"]] = max(last_seq.get(e["id"], 0), e["seq"])
        rng.shuffle(events)
        out.append(events)
    return CdcFeed(out, partitions)


def _event(rng: random.Random, key: int, seq: int, op: str) -> Event:
    return {"id": key, "seq": seq, "op": op, "name": f"n{key}-{rng.randint(0, 999)}", "amount": rng.randint(0, 10_000) / 100}
