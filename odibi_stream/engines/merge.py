"""Entry point of Delta merges for either engine (see :mod:`odibi_stream.engines.merge_sql`).

Frames are opaque to the runtime; here, in the engine layer, an Arrow table is the pandas
engine's and anything else the Spark engine's. The Spark executor is imported only for Spark
frames, so the pandas engine never needs pyspark.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from odibi_stream.engines.base import Engine, Frame
from odibi_stream.engines.merge_sql import MergeSpec


def merge_delta(
    engine: Engine,
    frame: Frame,
    uri: str,
    spec: MergeSpec,
    storage_options: Mapping[str, str] | None,
    txn: tuple[str, int] | None,
) -> tuple[int, dict[str, int]]:
    """Apply ``frame`` as a batch of changes to the Delta table at ``uri`` in one commit.

    ``txn`` = (app_id, batch) lands in the same commit; the caller has checked it is new.

    Returns:
        The table version after the merge, and inserted/updated/deleted row counts.
    """
    if isinstance(frame, pa.Table):
        from odibi_stream.engines.merge_arrow import merge_arrow

        return merge_arrow(engine.sql, frame, uri, spec, storage_options, txn)
    from odibi_stream.engines.merge_spark import merge_spark

    return merge_spark(engine.sql, frame, uri, spec, storage_options, txn)
