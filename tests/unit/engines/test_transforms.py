"""The transform registry and get_engine."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import odibi_stream
from odibi_stream.engines import get_engine
from odibi_stream.engines.pandas import PandasEngine
from odibi_stream.exceptions import ConfigError, TransformError
from odibi_stream.plugins.transforms import registered, resolve_function, transform


def test_decorator_bare_and_named() -> None:
    @odibi_stream.transform
    def add_one_test(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(v=df["v"] + 1)

    @transform("renamed_test_fn")
    def other(df: pd.DataFrame) -> pd.DataFrame:
        return df

    assert resolve_function("add_one_test") is add_one_test
    assert resolve_function("renamed_test_fn") is other
    assert "other" not in registered()
    out = PandasEngine().apply(resolve_function("add_one_test"), {"x": pa.table({"v": [1]})}, {})
    assert out.column("v").to_pylist() == [2]


def test_dotted_path_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "userpkg_t"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "steps.py").write_text(
        "def clean(df, suffix='!'):\n    return df.assign(s=df['s'] + suffix)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fn = resolve_function("userpkg_t.steps.clean")
    out = PandasEngine().apply(fn, {"x": pa.table({"s": ["a"]})}, {"suffix": "?"})
    assert out.column("s").to_pylist() == ["a?"]
    with pytest.raises(TransformError, match="has no 'claen'") as info:
        resolve_function("userpkg_t.steps.claen")
    assert info.value.hint == "did you mean 'userpkg_t.steps.clean'?"
    with pytest.raises(TransformError, match="cannot import"):
        resolve_function("no_such_pkg_xyz.mod.fn")
    sys.modules.pop("userpkg_t.steps", None)
    sys.modules.pop("userpkg_t", None)


def test_unknown_name_has_did_you_mean() -> None:
    @transform("normalise_orders_t")
    def f(df: pd.DataFrame) -> pd.DataFrame:
        return df

    with pytest.raises(TransformError) as info:
        resolve_function("normalize_orders_t")
    assert info.value.hint == "did you mean 'normalise_orders_t'?"


def test_get_engine() -> None:
    assert get_engine("pandas").name == "pandas"
    with pytest.raises(ConfigError) as info:
        get_engine("panda")
    assert info.value.hint == "did you mean 'pandas'?"
