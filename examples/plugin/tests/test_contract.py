"""The plugin's sink passes odibi-stream's exported sink contract suite."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from odibi_example_plugin.connector import GzipJsonlSpec

from odibi_stream.clients.locations import Location
from odibi_stream.config.models import WriteConfig
from odibi_stream.testing.contracts import SinkCase, SinkContract


class TestGzipJsonlSink(SinkContract):
    @pytest.fixture
    def sink_case(self, tmp_path: Path) -> SinkCase:
        folder = tmp_path / "out"
        spec = GzipJsonlSpec("n", Location(uri=str(folder)), WriteConfig(connection="c", format="jsonl_gz", path="out"))

        def rows() -> list[int]:
            parts = folder.glob("part-*.jsonl.gz")
            return [json.loads(line)["id"] for p in parts for line in gzip.decompress(p.read_bytes()).splitlines()]

        return SinkCase(spec=spec, rows=rows)
