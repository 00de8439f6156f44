"""Start-up write checks: the folders a daemon writes, created and probed before it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from odibi_stream.config.loader import load_project
from odibi_stream.exceptions import ConfigError
from odibi_stream.service.preflight import check_writable_folders, writable_targets
from tests.conftest import cli_env, write_project

PIPE = """\
pipeline: p
trigger: {manual: {}}
nodes:
  - name: src
    read: {connection: landing, format: csv, path: "*.csv", incremental: {mode: files}}
  - name: out
    depends_on: [src]
    write: {connection: lake, format: parquet, path: out}
"""


def _project(root: Path, checkpoint: str = "./ck", lake: str = "./lake", after_read: str = "keep") -> Path:
    return write_project(
        root,
        {"p": PIPE.replace("incremental: {mode: files}", f"incremental: {{mode: files, after_read: {after_read}}}")},
        odibi_yaml=f"""\
        project: t
        checkpoint: {{root: {checkpoint}}}
        connections:
          landing: {{type: local, base_path: ./landing}}
          lake: {{type: local, base_path: {lake}}}
        environments:
          deployed:
            checkpoint: {{root: {checkpoint}}}
        """,
    )


def test_targets_are_checkpoint_root_and_written_connections_only(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path / "p"))
    targets = writable_targets(project)
    assert [t.what for t in targets] == ["checkpoint root", "the folder of connection 'lake'"]
    assert targets[1].path == (tmp_path / "p" / "lake").resolve()


def test_a_connection_whose_files_are_deleted_after_reading_must_be_writable(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path / "p", after_read="delete"))
    assert "the folder of connection 'landing'" in [t.what for t in writable_targets(project)]


def test_missing_folders_are_created_and_no_probe_file_is_left(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path / "p", checkpoint="./state/ck", lake="./state/lake"))
    check_writable_folders(project)
    for folder in (tmp_path / "p" / "state" / "ck", tmp_path / "p" / "state" / "lake"):
        assert folder.is_dir()
        assert list(folder.iterdir()) == []


def test_an_unwritable_checkpoint_root_is_a_config_error_at_its_line(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", checkpoint="./blocked/ck")
    (root / "blocked").write_text("a file where a folder must go")  # ENOTDIR, even for root
    project = load_project(root, "deployed")
    with pytest.raises(ConfigError) as info:
        check_writable_folders(project)
    err = info.value
    assert err.file is not None and err.file.endswith("odibi.yaml")
    assert err.line == 8  # the overlay's line: the setting that was in effect
    assert "checkpoint root" in err.message and "not writable by uid" in err.message
    assert err.hint is not None and "volume" in err.hint


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to drop to another uid")
def test_serve_as_another_user_on_a_root_owned_project_exits_2_without_traceback(tmp_path: Path) -> None:
    base = tmp_path / "pub"
    root = _project(base / "p")
    os.chmod(tmp_path, 0o755)  # let uid 65534 read the project, but not write it
    for folder, _dirs, files in os.walk(base):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    try:
        probe = "import sys, odibi_stream; open(sys.argv[1]).read()"
        subprocess.run([sys.executable, "-c", probe, str(root / "odibi.yaml")], env=cli_env(), user=65534,
                       group=65534, check=True, capture_output=True, timeout=60)
    except (PermissionError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"uid 65534 cannot run this interpreter/checkout ({exc}); "
                    "tests/deploy/test_image.py covers a non-root daemon on a read-only project")
    proc = subprocess.run(
        [sys.executable, "-m", "odibi_stream.cli.main", "serve", str(root)],
        capture_output=True, text=True, env=cli_env(), user=65534, group=65534, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{root / 'odibi.yaml'}:2: checkpoint root" in proc.stderr
    assert "Permission denied" in proc.stderr
    assert "hint:" in proc.stderr
