"""load_project: overlays, substitution, positioned errors with hints, Project helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from odibi_stream.clients.locations import resolve_location
from odibi_stream.config.loader import load_project
from odibi_stream.core.redact import redact, register_secrets
from odibi_stream.exceptions import ConfigError, ConfigErrors, DagError
from tests.unit.config.config_samples import GOOD_PIPELINE
from tests.unit.config.conftest import ProjectWriter


def _error(root: Path, env: str | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_project(root, env=env)
    return info.value


def _errors(root: Path) -> list[ConfigError]:
    with pytest.raises(ConfigError) as info:
        load_project(root)
    return getattr(info.value, "errors", [info.value])


def test_valid_project_loads(write_project: ProjectWriter) -> None:
    second = GOOD_PIPELINE.replace("pipeline: orders", "pipeline: audit")
    root = write_project({"b_orders.yaml": GOOD_PIPELINE, "a_audit.yml": second, "notes.txt": "x"})
    project = load_project(root)
    assert list(project.pipelines) == ["audit", "orders"]  # by file name
    assert project.root == root.resolve()
    assert project.files["orders"] == (root / "pipelines" / "b_orders.yaml").resolve()
    assert project.files["__project__"] == (root / "odibi.yaml").resolve()
    assert Path(project.checkpoint.location) == (root / "ckpt").resolve()
    assert project.config.connections["lake"].options["account_key"] == "lake-account-key-value-123"
    assert project.line("orders", "nodes", 1, "transform") == 14
    assert project.env is None


def test_project_file_path_is_accepted(write_project: ProjectWriter) -> None:
    root = write_project({"o.yaml": GOOD_PIPELINE})
    assert list(load_project(root / "odibi.yaml").pipelines) == ["orders"]


def test_resolved_secret_is_collected_for_the_redactor(write_project: ProjectWriter) -> None:
    project = load_project(write_project({"o.yaml": GOOD_PIPELINE}))
    assert project.secrets == frozenset({"lake-account-key-value-123"})
    register_secrets(project.secrets)
    assert "lake-account-key-value-123" not in redact("account lake-account-key-value-123")


def test_env_overlay_is_deep_merged(write_project: ProjectWriter) -> None:
    project = load_project(write_project({"o.yaml": GOOD_PIPELINE}), env="prod")
    assert project.env == "prod"
    assert project.config.connections["local"].base_path == "/srv/data"
    assert project.config.connections["local"].type == "local"  # kept from the base
    assert project.config.connections["lake"].container == "lake"
    assert Path(project.checkpoint.location) == Path("/srv/ckpt")
    assert resolve_location(project, "local", "x/y").uri == "/srv/data/x/y"


def test_error_in_overlay_points_at_overlay_line(write_project: ProjectWriter) -> None:
    odibi = """\
    project: demo
    connections:
      local: {type: local, base_path: ./data}
    environments:
      prod:
        connections:
          local:
            type: ftp
    """
    err = _error(write_project({"o.yaml": GOOD_PIPELINE}, odibi=odibi), env="prod")
    assert (err.line, err.file) == (8, str(err.file))
    assert str(err.file).endswith("odibi.yaml")
    assert "connections.local.type" in err.message


def test_unselected_env_with_missing_variables_is_fine(write_project: ProjectWriter) -> None:
    odibi = """\
    project: demo
    connections:
      local: {type: local, base_path: ./data}
    environments:
      prod:
        checkpoint: {root: "${env:SURELY_UNSET_PROD_ROOT}"}
    """
    root = write_project({"o.yaml": GOOD_PIPELINE}, odibi=odibi)
    assert Path(load_project(root).checkpoint.location) == (root / "checkpoints").resolve()
    err = _error(root, env="prod")
    assert err.line == 6
    assert "SURELY_UNSET_PROD_ROOT" in err.message


def test_unknown_env_lists_environments(write_project: ProjectWriter) -> None:
    err = _error(write_project({"o.yaml": GOOD_PIPELINE}), env="staging")
    assert err.message == "unknown environment 'staging'"
    assert err.line == 15
    assert err.hint == "known environments: prod"
    assert (
        _error(write_project({"o.yaml": GOOD_PIPELINE}, name="p2"), env="prd").hint
        == "did you mean 'prod'?"
    )


def test_unknown_env_without_environments(write_project: ProjectWriter) -> None:
    odibi = "project: demo\nconnections:\n  local: {type: local}\n"
    err = _error(write_project({"o.yaml": GOOD_PIPELINE}, odibi=odibi), env="prod")
    assert err.hint is not None and "defines no environments" in err.hint


def test_unknown_key_exact_line_and_hint(write_project: ProjectWriter) -> None:
    bad = GOOD_PIPELINE.replace("    depends_on: [raw]", "    depens_on: [raw]")
    root = write_project({"x.yaml": bad})
    errs = _errors(root)
    unknown = [e for e in errs if "unknown key" in e.message]
    assert len(unknown) == 1
    err = unknown[0]
    assert err.file == str(root / "pipelines" / "x.yaml")
    assert err.line == 13
    assert err.message == "unknown key 'depens_on' in nodes[1]"
    assert err.hint == "did you mean 'depends_on'?"
    assert str(err).endswith("pipelines/x.yaml:13: unknown key 'depens_on' in nodes[1]")


def test_unknown_key_without_close_match_lists_allowed(write_project: ProjectWriter) -> None:
    bad = GOOD_PIPELINE.replace("        mode: files", "        mode: files\n        zzz: 1")
    err = _error(write_project({"x.yaml": bad}))
    assert err.line == 12
    assert err.hint is not None and err.hint.startswith("allowed keys: after_read, archive_path")


def test_bad_type(write_project: ProjectWriter) -> None:
    bad = GOOD_PIPELINE.replace("trigger:", "max_attempts: many\ntrigger:")
    err = _error(write_project({"x.yaml": bad}))
    assert err.line == 2
    assert err.message.startswith("max_attempts: Input should be a valid integer")


def test_bad_enum_value_suggests(write_project: ProjectWriter) -> None:
    bad = GOOD_PIPELINE.replace("format: delta", "format: delt")
    err = _error(write_project({"x.yaml": bad}))
    assert err.line == 18
    assert err.message.startswith("nodes[1].write.format:")
    assert err.hint == "did you mean 'delta'?"


def test_missing_required_field(write_project: ProjectWriter) -> None:
    bad = GOOD_PIPELINE.replace("      format: csv\n", "")
    err = _error(write_project({"x.yaml": bad}))
    assert err.message == "missing required key 'format' in nodes[0].read"
    assert err.line == 6  # the 'read:' mapping
    assert err.hint == "'format': Data format: csv, json, jsonl, parquet, delta, kafka, eventhub, or a plugin's."


def test_model_rule_violation_points_at_mapping(write_project: ProjectWriter) -> None:
    bad = GOOD_PIPELINE.replace(
        "      sql: SELECT * FROM raw", "      sql: SELECT 1\n      function: m.f"
    )
    err = _error(write_project({"x.yaml": bad}))
    assert err.line == 14
    assert "exactly one of 'sql' or 'function'" in err.message


def test_bad_env_var_in_pipeline(write_project: ProjectWriter) -> None:
    bad = GOOD_PIPELINE.replace("path: tables/orders", "path: ${env:ODIBI_TEST_UNSET_TABLE}/orders")
    err = _error(write_project({"x.yaml": bad}))
    assert err.line == 19
    assert (
        err.hint
        == "export ODIBI_TEST_UNSET_TABLE=... or use ${env:ODIBI_TEST_UNSET_TABLE:-default}"
    )


def test_unknown_connection(write_project: ProjectWriter) -> None:
    bad = GOOD_PIPELINE.replace(
        "      connection: local\n      format: delta",
        "      connection: locl\n      format: delta",
    )
    err = _error(write_project({"x.yaml": bad}))
    assert (err.line, err.message) == (17, "unknown connection 'locl'")
    assert err.hint == "did you mean 'local'?"
    bad = GOOD_PIPELINE.replace(
        "      connection: local\n      format: csv", "      connection: s3\n      format: csv"
    )
    err = _error(write_project({"x.yaml": bad}, name="p2"))
    assert err.line == 7
    assert err.hint == "known connections: lake, local"


def test_dead_letter_policy_needs_target(write_project: ProjectWriter) -> None:
    bad = GOOD_PIPELINE.replace("  - name: clean\n", "  - name: clean\n    on_error: dead_letter\n")
    err = _error(write_project({"x.yaml": bad}))
    assert err.line == 13
    assert "no dead_letter target" in err.message
    wm = GOOD_PIPELINE.replace(
        "        mode: files\n",
        "        mode: files\n      watermark:\n        column: ts\n        late: dead_letter\n",
    )
    err = _error(write_project({"x.yaml": wm}, name="p2"))
    assert err.line == 14
    ok = bad + "dead_letter:\n  connection: local\n  path: dlq\n"
    assert list(load_project(write_project({"x.yaml": ok}, name="p3")).pipelines) == ["orders"]


def test_dag_errors_have_lines(write_project: ProjectWriter) -> None:
    cyc = GOOD_PIPELINE.replace("  - name: raw\n", "  - name: raw\n    depends_on: [clean]\n")
    err = _error(write_project({"x.yaml": cyc}))
    assert isinstance(err, DagError)
    assert err.message == "cycle in pipeline 'orders': raw -> clean -> raw"
    assert err.line == 6
    unknown = GOOD_PIPELINE.replace("depends_on: [raw]", "depends_on: [rawx]")
    err = _error(write_project({"x.yaml": unknown}, name="p2"))
    assert (err.line, err.hint) == (13, "did you mean 'raw'?")
    dup = GOOD_PIPELINE.replace("  - name: clean", "  - name: raw")
    err = _error(write_project({"x.yaml": dup}, name="p3"))
    assert err.line == 12
    assert "duplicate node name 'raw'" in err.message


def test_duplicate_pipeline_names_across_files(write_project: ProjectWriter) -> None:
    root = write_project({"a.yaml": GOOD_PIPELINE, "b.yaml": GOOD_PIPELINE})
    err = _error(root)
    assert err.file == str(root / "pipelines" / "b.yaml")
    assert err.line == 1
    assert err.hint is not None and "a.yaml" in err.hint


def test_after_trigger_must_name_known_pipeline(write_project: ProjectWriter) -> None:
    after = GOOD_PIPELINE.replace("pipeline: orders", "pipeline: report").replace(
        "  file_watch: {}", "  after: ordrs"
    )
    err = _error(write_project({"a.yaml": GOOD_PIPELINE, "b.yaml": after}))
    assert (err.line, err.message) == (3, "'after' trigger names unknown pipeline 'ordrs'")
    assert err.hint == "did you mean 'orders'?"
    fixed = after.replace("after: ordrs", "after: [orders]")
    project = load_project(write_project({"a.yaml": GOOD_PIPELINE, "b.yaml": fixed}, name="p2"))
    assert project.pipeline("report").trigger.after == ["orders"]


def test_after_trigger_cycle(write_project: ProjectWriter) -> None:
    a = GOOD_PIPELINE.replace("pipeline: orders", "pipeline: pa").replace(
        "  file_watch: {}", "  after: pb"
    )
    b = GOOD_PIPELINE.replace("pipeline: orders", "pipeline: pb").replace(
        "  file_watch: {}", "  after: pa"
    )
    err = _error(write_project({"a.yaml": a, "b.yaml": b}))
    assert "cycle: pa -> pb -> pa" in err.message


def test_several_errors_are_collected(write_project: ProjectWriter) -> None:
    bad1 = GOOD_PIPELINE.replace("depends_on: [raw]", "depends_on: [nope]")
    bad2 = GOOD_PIPELINE.replace("pipeline: orders", "pipeline: other").replace(
        "format: csv", "format: cvs"
    )
    with pytest.raises(ConfigErrors) as info:
        load_project(write_project({"a.yaml": bad1, "b.yaml": bad2, "c.yaml": ""}))
    got = sorted((Path(str(e.file)).name, e.line) for e in info.value.errors)
    assert got == [("a.yaml", 13), ("b.yaml", 8), ("c.yaml", 1)]


def test_missing_project_file_and_folder(tmp_path: Path) -> None:
    err = _error(tmp_path / "nowhere")
    assert "no odibi.yaml" in err.message
    assert err.hint is not None and "odibi-stream init NAME" in err.hint
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "odibi.yaml").write_text("project: p\n")
    err = _error(tmp_path / "p")
    assert "no 'pipelines' folder" in err.message
    assert err.hint is not None and "init" in err.hint


def test_empty_project_file(write_project: ProjectWriter) -> None:
    err = _error(write_project({"o.yaml": GOOD_PIPELINE}, odibi=""))
    assert str(err.file).endswith("odibi.yaml")
    assert (err.line, err.message) == (1, "file is empty")


def test_top_level_list_is_an_error(write_project: ProjectWriter) -> None:
    err = _error(write_project({"o.yaml": "- a\n- b\n"}))
    assert "expected a mapping" in err.message


def test_pipeline_lookup_and_fingerprint(write_project: ProjectWriter) -> None:
    project = load_project(write_project({"o.yaml": GOOD_PIPELINE}))
    with pytest.raises(ConfigError) as info:
        project.pipeline("ordres")
    assert info.value.message == "unknown pipeline 'ordres'"
    assert info.value.hint == "did you mean 'orders'?"
    fp = project.fingerprint("orders")
    assert len(fp) == 64 and fp == project.fingerprint("orders")
    reordered = GOOD_PIPELINE.replace(
        "      path: tables/orders\n", "      path: tables/orders\n"
    ).replace(
        "      connection: local\n      format: delta\n",
        "      format: delta\n      connection: local\n",
    )
    assert reordered != GOOD_PIPELINE
    same = load_project(write_project({"o.yaml": reordered}, name="p2"))
    assert same.fingerprint("orders") == fp
    changed = load_project(
        write_project({"o.yaml": GOOD_PIPELINE.replace("tables/orders", "t2")}, name="p3")
    )
    assert changed.fingerprint("orders") != fp
