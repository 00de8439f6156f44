"""Property tests for offset planning: every input is planned exactly once, in order, in bounds."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import IncrementalConfig, ReadConfig
from odibi_stream.connectors.files import FilesSpec
from odibi_stream.connectors.kafka import share_budget

files_st = st.lists(
    st.tuples(st.integers(1, 20), st.integers(0, 5)),  # (records, mtime bucket: ties are common)
    min_size=0,
    max_size=25,
)
limit_st = st.one_of(st.none(), st.integers(1, 40))


@settings(max_examples=60, deadline=None)
@given(files=files_st, max_files=limit_st, max_bytes=st.one_of(st.none(), st.integers(1, 400)), max_records=limit_st)
def test_file_plans_cover_every_file_once_in_order_within_limits(
    files: list[tuple[int, int]], max_files: int | None, max_bytes: int | None, max_records: int | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for i, (records, bucket) in enumerate(files):
            path = folder / f"f{i:03d}.jsonl"
            path.write_text("".join('{"a": 1}\n' for _ in range(records)))
            t = 10**18 + bucket * 10**9
            os.utime(path, ns=(t, t))
        inc = IncrementalConfig(
            mode="files", settle_seconds=0, max_files_per_batch=max_files,
            max_bytes_per_batch=max_bytes, max_records_per_batch=max_records,
        )
        read = ReadConfig(connection="c", format="jsonl", path="in/*.jsonl", incremental=inc)
        src = FilesSpec("n", Location(uri=str(folder / "*.jsonl"), storage_options={}, is_local=True), read).open()
        state = src.initial_state()
        seen: list[tuple[int, str]] = []
        for _ in range(len(files) + 1):
            rng = src.plan(state)
            assert rng == src.plan(state), "planning is pure"
            if rng is None:
                break
            batch = rng["files"]
            if len(batch) > 1:  # a single file may exceed a limit: progress is guaranteed
                assert max_files is None or len(batch) <= max_files
                assert max_bytes is None or sum(f["size"] for f in batch) <= max_bytes
                if max_records is not None:
                    recs = sum(f["size"] // len('{"a": 1}\n') for f in batch)
                    assert recs <= max_records
            seen += [(f["mtime_ns"], f["path"]) for f in batch]
            state = src.fold(state, rng)
        assert src.plan(state) is None
        assert len(seen) == len(files) == len(set(seen)), "each file exactly once"
        assert seen == sorted(seen), "batches follow (mtime, path) order"


@given(
    backlog=st.dictionaries(st.sampled_from([f"t:{p}" for p in range(6)]), st.integers(0, 1000), max_size=6),
    budget=st.one_of(st.none(), st.integers(0, 3000)),
)
def test_kafka_budget_is_shared_fairly_and_fully(backlog: dict[str, int], budget: int | None) -> None:
    take = share_budget(backlog, budget)
    assert set(take) == set(backlog)
    assert all(0 <= take[k] <= backlog[k] for k in backlog)
    total = sum(backlog.values())
    if budget is None or total <= budget:
        assert take == backlog, "no budget pressure: every partition catches up"
        return
    assert sum(take.values()) == budget, "the whole budget is used when the backlog exceeds it"
    capped = [take[k] for k in backlog if take[k] < backlog[k]]
    # water-filling: partitions that did not get all they asked for are within one of each other
    assert not capped or max(capped) - min(capped) <= 1
    # and a partition that got its whole backlog asked for at most one more than the capped ones
    # got (integer shares: with budget 1 over two backlogs of 1, one of them takes its 1)
    assert all(backlog[k] <= min(capped) + 1 for k in backlog if take[k] == backlog[k])
