"""Test artefacts (screenshots): kept under build/test-artifacts/ (or $ODIBI_TEST_ARTIFACTS)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[3]


def artifact_dir(name: str) -> Path:
    """A folder for one test's artefacts (created; survives the test run)."""
    root = Path(os.environ.get("ODIBI_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_png(data: bytes, min_width: int, min_height: int) -> Image.Image:
    """Decode a screenshot, assert it is a real picture of at least that size with content."""
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    assert image.width >= min_width and image.height >= min_height, image.size
    colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 20, "a screenshot of a rendered page has many colours"
    return image


def dominant_reddish(image: Image.Image) -> bool:
    """True if the picture's most common non-white colour is a red (a failed node's fill)."""
    colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
    ranked = sorted((c for c in colours if c[1] != (255, 255, 255)), reverse=True)
    if not ranked:
        return False
    r, g, b = ranked[0][1]
    return r > 200 and r - g > 15 and r - b > 15
