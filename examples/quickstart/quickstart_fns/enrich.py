"""A user transform: receives a pandas DataFrame, returns one."""

from __future__ import annotations

import pandas as pd


def add_currency(df: pd.DataFrame, currency: str) -> pd.DataFrame:
    """Tag every order with the reporting currency and a size band."""
    out = df.copy()
    out["currency"] = currency
    out["band"] = pd.cut(out["amount"], bins=[0, 50, 200, float("inf")], labels=["S", "M", "L"]).astype(str)
    return out
