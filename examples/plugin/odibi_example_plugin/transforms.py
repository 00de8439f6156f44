"""Transforms this plugin registers (imported through the ``odibi_stream.transforms`` group)."""

from __future__ import annotations

import pandas as pd

import odibi_stream


@odibi_stream.transform("greet")
def greet(df: pd.DataFrame, greeting: str = "hello") -> pd.DataFrame:
    """Add a ``greeting`` column: ``"<greeting> <name>"``."""
    out = df.copy()
    out["greeting"] = greeting + " " + out["name"].astype(str)
    return out
