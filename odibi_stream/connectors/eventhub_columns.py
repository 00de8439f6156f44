"""The metadata columns an Event Hubs read adds after the decoded body (no SDK import).

Kept apart from the decoder so ``validate`` can name a read's columns on a machine without the
``eventhub`` extra (it then refuses the pipeline with the install hint, not an import error).
"""

from __future__ import annotations

import pyarrow as pa

META_TYPES: dict[str, pa.DataType] = {
    "partition": pa.string(),
    "sequence_number": pa.int64(),
    "offset": pa.string(),
    "enqueued_time": pa.timestamp("ms", tz="UTC"),
    "partition_key": pa.string(),
    "properties": pa.string(),
    "system_properties": pa.string(),
}
