"""Property test: recovery agrees with a tiny model for random operation sequences."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odibi_stream.checkpoints.local import LocalCheckpointStore
from odibi_stream.checkpoints.log import PipelineLog
from tests.unit.checkpoints.ckpt_helpers import commit, compact_keeping, plan

OPS = st.one_of(
    st.just(("plan", 0)),
    st.just(("commit", 0)),
    st.just(("crash", 0)),  # a new process: fresh store and log objects over the same files
    st.tuples(st.just("compact"), st.integers(min_value=1, max_value=4)),
    st.tuples(st.just("corrupt"), st.integers(min_value=0, max_value=400)),
)


@dataclass
class Model:
    last: int = -1
    pending: bool = False
    floor: int = -1  # snapshot batch

    def newest_file(self) -> tuple[str, int] | None:
        """The most recently written entry above the snapshot, which is what a crash tears."""
        if self.pending:
            return ("offsets", self.last + 1)
        if self.last > self.floor:
            return ("commits", self.last)
        return None


def _apply(log: PipelineLog, root: Path, model: Model, op: str, arg: int) -> PipelineLog:
    if op == "plan" and not model.pending:  # the runtime never re-plans a planned batch
        log.write_offsets(plan(model.last + 1))
        model.pending = True
    elif op == "commit" and model.pending:
        log.write_commit(commit(model.last + 1))
        model.last += 1
        model.pending = False
    elif op == "crash":
        log = PipelineLog(LocalCheckpointStore(root), "p")
    elif op == "compact":
        compact_keeping(log, arg)
        if model.last - model.floor > arg:
            model.floor = model.last - arg
    elif op == "corrupt" and (target := model.newest_file()) is not None:
        folder, n = target
        path = root / "p" / folder / f"{n}.json"
        data = path.read_bytes()
        path.write_bytes(data[: arg % (len(data) - 1)])  # the last byte is a newline
        log.recover()  # quarantines the torn entry
        if folder == "offsets":
            model.pending = False
        else:
            model.last -= 1
            model.pending = True  # its plan is still there: replay it
    return log


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=30))
def test_recovery_matches_model(ops: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        log = PipelineLog(LocalCheckpointStore(root), "p")
        model = Model()
        for op, arg in ops:
            log = _apply(log, root, model, op, arg)
            rec = PipelineLog(LocalCheckpointStore(root), "p").recover()
            assert rec.last_committed == model.last
            assert rec.next_batch == model.last + 1
            assert (rec.pending is not None) == model.pending
            if rec.pending is not None:
                assert rec.pending == plan(model.last + 1)
            assert [c.batch for c in rec.commits] == list(range(model.floor + 1, model.last + 1))
            assert (rec.snapshot.batch if rec.snapshot else -1) == model.floor
            assert rec.problems == []
