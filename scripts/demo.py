"""`make demo`: run the quickstart project and show what landed.

Copies the sample order files into the quickstart's landing folder one by one (atomically,
temp + rename, as a real producer should), runs the pipeline, and prints the Delta table and
the dead-letter table. Re-running is safe: already-processed files are never processed twice.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "examples" / "quickstart"
CLI = [str(Path(sys.executable).parent / "odibi-stream")]


def land_samples() -> int:
    landing = PROJECT / "data" / "landing" / "orders"
    landing.mkdir(parents=True, exist_ok=True)
    count = 0
    for sample in sorted((PROJECT / "samples").glob("*.csv")):
        target = landing / sample.name
        if target.exists():
            continue
        tmp = landing / f".{sample.name}.tmp"
        shutil.copyfile(sample, tmp)
        os.replace(tmp, target)
        count += 1
    return count


def show_tables() -> None:
    from deltalake import DeltaTable

    for title, rel in (("bronze orders", "lake/bronze/orders"), ("dead letters", "lake/dead_letter/orders")):
        path = PROJECT / "data" / rel
        if not (path / "_delta_log").exists():
            print(f"\n{title}: (empty)")
            continue
        df = DeltaTable(str(path)).to_pandas()
        print(f"\n{title}: {len(df)} rows at {path.relative_to(ROOT)}")
        with_cols = [c for c in df.columns if c != "_odibi_record"]
        print(df[with_cols].head(8).to_string(index=False))


def main() -> int:
    landed = land_samples()
    print(f"landed {landed} new sample file(s) in {PROJECT.relative_to(ROOT)}/data/landing/orders")
    code = subprocess.call([*CLI, "validate", str(PROJECT)])
    if code != 0:
        return code
    code = subprocess.call([*CLI, "run", str(PROJECT)])
    if code == 0:
        show_tables()
    return code


if __name__ == "__main__":
    sys.exit(main())
