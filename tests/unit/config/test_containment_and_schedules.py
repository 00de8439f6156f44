"""Issue 17 finding 11: paths escaping their connection and schedules that only fail later.

Write and dead-letter paths could leave the connection root (``../../x``, absolute); an absolute
``archive_path`` was silently re-rooted; ``validate`` accepted ``..`` in read/archive paths and
bad cron/interval/timezone values, which then left a daemon running without the pipeline. Now
each is a ``validate`` error at the setting's line. Fails on the old loader.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from odibi_stream.config.loader import load_project
from odibi_stream.exceptions import ConfigError
from tests.unit.config.test_secret_marking import BASE, PIPELINE, SECRET, project


@pytest.mark.parametrize(
    ("path", "why"),
    [("../../outside/*.csv", "contains '..'"), ("/etc/*.csv", "is absolute"),
     ("C:\\data\\*.csv", "is absolute"), ("~/x/*.csv", "is absolute"),
     ("file:///etc/*.csv", "is a URL")],
)
def test_paths_must_stay_inside_their_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 path: str, why: str) -> None:
    """Issue 17 finding 11: read, write, archive and dead-letter paths escaping the root."""
    monkeypatch.setenv("DB_PASS", SECRET)
    for key, text in [
        ("read", PIPELINE.replace("path: landing/*.csv", f"path: '{path}'")),
        ("write", PIPELINE.replace("path: tables/p", f"path: '{path}'")),
        ("archive", PIPELINE.replace(
            "incremental: {mode: files}",
            f"incremental: {{mode: files, after_read: archive, archive_path: '{path}'}}")),
        ("dead_letter", PIPELINE + f"dead_letter: {{connection: local, path: '{path}'}}\n"),
    ]:
        with pytest.raises(ConfigError) as info:
            load_project(project(tmp_path / key, BASE, text))
        assert why in info.value.message, key
        assert info.value.line is not None, key


def test_checkpoint_path_under_a_connection_must_stay_inside(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASS", SECRET)
    odibi = BASE + "checkpoint: {connection: local, path: ../../elsewhere}\n"
    with pytest.raises(ConfigError) as info:
        load_project(project(tmp_path, odibi))
    assert "contains '..'" in info.value.message and info.value.line == 4


@pytest.mark.parametrize(
    ("trigger", "why"),
    [("{cron: {expression: '61 * * * *'}}", "bad cron expression"),
     ("{cron: {expression: '* * *'}}", "5 fields"),
     ("{interval: {every: soon}}", "not a duration"),
     ("{interval: {every: 0s}}", "must be positive"),
     ("{cron: {expression: '0 * * * *', timezone: Mars/Olympus}}", "unknown timezone")],
)
def test_bad_schedules_fail_validate_at_the_trigger_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trigger: str, why: str
) -> None:
    monkeypatch.setenv("DB_PASS", SECRET)
    with pytest.raises(ConfigError) as info:
        load_project(project(tmp_path, BASE, f"trigger: {trigger}\n" + PIPELINE))
    assert why in info.value.message
    assert info.value.line == 1


def test_good_schedules_still_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASS", SECRET)
    for i, trigger in enumerate(["{cron: {expression: '0 9 * * 1-5', timezone: Europe/Paris}}",
                                 "{cron: {expression: '*/5 * * * * *'}}", "{interval: {every: 250ms}}"]):
        load_project(project(tmp_path / str(i), BASE, f"trigger: {trigger}\n" + PIPELINE))
