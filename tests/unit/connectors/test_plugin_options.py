"""A plugin connector's own options model: validated at compile, positioned at its key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import Field

from odibi_stream.clients.locations import Location
from odibi_stream.config import formats
from odibi_stream.config.loader import load_project
from odibi_stream.config.options import Options
from odibi_stream.connectors import factory
from odibi_stream.connectors.base import NoClients
from odibi_stream.connectors.factory import Connector, SinkRequest
from odibi_stream.exceptions import ConfigError
from odibi_stream.runtime.compile import compile_pipeline
from tests.conftest import write_project


class GzOptions(Options):
    """write.options of the test plugin's format."""

    level: int = Field(default=6, ge=1, le=9, description="gzip level.")


@dataclass(frozen=True)
class GzSpec:
    """A sink spec that records the options it was built with."""

    node: str
    location: Location
    options: object

    def open(self) -> NoClients:
        return NoClients()


def _sink(req: SinkRequest) -> GzSpec:
    assert req.node.write is not None
    return GzSpec(req.node.name, req.location, req.node.write.options)


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve format 'gz' as an installed plugin would (its name known to config validation)."""
    monkeypatch.setattr(formats, "plugin_formats", lambda: ("gz",))
    monkeypatch.setattr(factory, "_registry", dict(factory.connectors()))
    factory.register(Connector("gz-test", ("gz",), sink=_sink, write_options=GzOptions))


def _project(tmp_path: Path, options: str) -> Path:
    return write_project(
        tmp_path / "p",
        {
            "g": f"""\
            pipeline: g
            nodes:
              - name: out
                read: {{connection: local, format: delta, path: t}}
                write:
                  connection: local
                  format: gz
                  path: out
                  options:
                    {options}
            """
        },
    )


@pytest.mark.usefixtures("plugin")
def test_plugin_options_are_typed_for_its_connector(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path, "level: 9"))
    assert project.pipelines["g"].nodes[0].write.options == {"level": 9}  # type: ignore[union-attr]
    compiled = compile_pipeline(project, "g")
    spec = compiled.sinks["out"]
    assert isinstance(spec, GzSpec) and spec.options == GzOptions(level=9)


@pytest.mark.usefixtures("plugin")
def test_a_typo_in_plugin_options_is_an_error_at_its_line(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path, "levl: 9"))  # config alone cannot know the plugin's keys
    with pytest.raises(ConfigError) as info:
        compile_pipeline(project, "g")
    error = info.value
    assert error.file is not None and error.file.endswith("g.yaml")
    assert error.line == 10
    assert "node out: write.options: unknown option 'levl'" in error.message
    assert error.hint == "did you mean 'level'?"
