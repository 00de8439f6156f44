"""Prometheus families of the control plane itself: refusals and connections.

Lifecycle contract:
    * ``start_server`` builds one :class:`ServerMetrics` per server from its refusal counters and
      listeners; ``GET /metrics`` appends :meth:`ServerMetrics.render` to the daemon's exposition
      (distinct family names, so the two text expositions concatenate into a valid one).
    * Values are read at scrape time (a collector, no background work). Labels are fixed words
      (reason, listener name): nothing from a request becomes a label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from odibi_stream.server.rejections import Rejections

ListenerStats = Callable[[], dict[str, int]]


class _Collector(Collector):
    def __init__(self, rejections: Rejections, listeners: Sequence[tuple[str, ListenerStats]]) -> None:
        self.rejections = rejections
        self.listeners = listeners

    def collect(self) -> Iterator[Metric]:
        refused = CounterMetricFamily(
            "odibi_http_refused_requests", "Requests refused by the control plane, by reason.", labels=["reason"]
        )
        for reason, count in sorted(self.rejections.counts().items()):
            refused.add_metric([reason], count)
        yield refused
        opened = GaugeMetricFamily("odibi_http_open_connections", "Open control-plane connections.", labels=["listener"])
        cap = GaugeMetricFamily("odibi_http_connection_cap", "Control-plane connection cap.", labels=["listener"])
        evicted = CounterMetricFamily(
            "odibi_http_evicted_connections", "Idle connections dropped to admit new ones at the cap.", labels=["listener"]
        )
        for name, stats in self.listeners:
            values = stats()
            opened.add_metric([name], values["open"])
            cap.add_metric([name], values["cap"])
            evicted.add_metric([name], values["evicted"])
        yield from (opened, cap, evicted)


class ServerMetrics:
    """The control plane's own metric families on a private registry."""

    def __init__(self, rejections: Rejections, listeners: Sequence[tuple[str, ListenerStats]]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(rejections, listeners))

    def render(self) -> bytes:
        """Prometheus text exposition of the families."""
        return generate_latest(self.registry)
