"""Deferred accounting: which batches may learn their counts and bad records after the writes.

On an engine where a count costs a pass over the input
(:class:`~odibi_stream.engines.base.SupportsDeferredCounts`: Spark), knowing a batch's rows and
bad records before its writes means materialising the read and running a job per count. The
executor can instead run the writes first, with the frames observed, and settle rows in/out,
rejects and dead letters after the last write, all before the commit (so the commit entry, the
story and the dead letter are the same as on the eager path). It may do so only when nothing
decides on a count or a bad record before a write:

* no node has ``checks`` or ``expect``, and no read has a ``watermark`` (they split, count or
  gate before the writes);
* under ``on_error: fail`` a bad record must stop the batch before any sink writes: such a
  read fails its own job at the first bad record (Spark's ``FAILFAST``), so nothing commits,
  and the eager re-run reports the record. That holds only with a single sink (another sink
  could commit before the failing one runs), so a pipeline with a ``fail`` read and several
  sinks is kept eager;
* every sink is a Delta ``append`` or ``overwrite``: a deferred batch cannot skip a write for
  having no rows, and Delta commits an empty write as just its transaction marker (a merge
  reads its source more than once and is kept eager).

A source whose files are local copies that vanish when its read returns (Azure storage) reads
eagerly whatever the executor asked (``engines.base.eager_reads``).

What makes it exact: a read that is run again (by the write, then by a count nobody observed,
then by the collection of the bad records) sees the same files, which do not change while a
batch runs. A deferred attempt that fails is run again eagerly (the proven path, which also
isolates a single unreadable file); sinks are idempotent, as on any replay.
"""

from __future__ import annotations

from odibi_stream.config.models import PipelineConfig
from odibi_stream.engines.base import Engine, SupportsDeferredCounts

_SINK_MODES = ("append", "overwrite")


def deferrable(engine: Engine, cfg: PipelineConfig) -> bool:
    """True if batches of ``cfg`` on ``engine`` may settle their accounting after the writes."""
    if not isinstance(engine, SupportsDeferredCounts):
        return False
    for node in cfg.nodes:
        if node.checks or node.expect is not None:
            return False
        if node.read is not None and node.read.watermark is not None:
            return False
        if node.write is not None and (node.write.format != "delta" or node.write.mode not in _SINK_MODES):
            return False
    fails = any(n.read is not None and cfg.node_on_error(n) == "fail" for n in cfg.nodes)
    return not fails or sum(n.write is not None for n in cfg.nodes) == 1
