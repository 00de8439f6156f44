"""The Event Hubs source's wake-up probe: the partitions' last enqueued sequence numbers.

Each poll reads the hub's partition ids (so partitions added later are noticed) and every
partition's end position over one management connection the probe keeps open (the SDK's own
property calls open a connection each, which costs ~0.4 s here and a TLS handshake on Azure).
The polling trigger wakes the pipeline when the answer changes, and once on start so a
restarted daemon catches up.
"""

from __future__ import annotations

from azure.eventhub import EventHubConsumerClient

from odibi_stream.connectors.eventhub_client import Management, consumer_client
from odibi_stream.connectors.eventhub_target import EventHubTarget


class EventHubEndsProbe:
    """A :class:`~odibi_stream.core.wake.Probe` over the end positions of one hub.

    Args:
        target: The hub.
        consumer_group: Consumer group of the client (management reads ignore it).
    """

    def __init__(self, target: EventHubTarget, consumer_group: str) -> None:
        self._client: EventHubConsumerClient | None = consumer_client(target, consumer_group)
        self._mgmt = Management(self._client)

    def positions(self) -> tuple[tuple[str, int], ...]:
        """``(partition, end sequence number)`` per partition, sorted (raises on outages)."""
        if self._client is None:
            raise RuntimeError("probe is closed")
        infos = self._mgmt.partitions(self._mgmt.partition_ids())
        return tuple(sorted((p, info.end) for p, info in infos.items()))

    def close(self) -> None:
        """Close the management connection and the client (idempotent)."""
        client, self._client = self._client, None
        self._mgmt.close()
        if client is not None:
            client.close()
