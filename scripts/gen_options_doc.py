"""Write docs/options.md from the option models (``--check``: fail if it is out of date).

Usage: ``python scripts/gen_options_doc.py`` after changing an option model; CI runs the test
``tests/unit/config/test_options_reference.py``, which fails when the checked-in page is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from odibi_stream.config.reference import render  # noqa: E402

TARGET = ROOT / "docs" / "options.md"


def main() -> int:
    """Write (or with ``--check`` compare) the option reference; 1 when stale."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    page = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != page:
            print(f"{TARGET} is out of date: run python scripts/gen_options_doc.py", file=sys.stderr)
            return 1
        print(f"{TARGET} is up to date")
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(page, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
