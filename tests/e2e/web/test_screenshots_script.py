"""``scripts/screenshots.py`` works: in its quick mode it builds a small demo, serves it,
and saves a desktop and a phone picture (their pixels are not checked)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from scripts import screenshots

pytestmark = [
    pytest.mark.browser,
    # as in test_browser: CI sets KOPILKA_REQUIRE_BROWSER=1, where a missing browser fails
    pytest.mark.skipif(
        not Path(screenshots.CHROMIUM).exists()
        and os.environ.get("KOPILKA_REQUIRE_BROWSER") != "1",
        reason=f"no Chromium at {screenshots.CHROMIUM}",
    ),
]


def test_the_screenshot_script_saves_its_quick_pictures(tmp_path: Path) -> None:
    """--quick writes the console overview at 1280 px wide and the portal at 390 px, as
    palette PNGs, into the directory it is given."""
    from PIL import Image

    saved = screenshots.main(["--quick", "--out", str(tmp_path)])
    assert sorted(p.name for p in saved) == ["console-overview.png", "portal-home.png"]
    sizes = {}
    for path in saved:
        assert path.parent == tmp_path
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.mode == "P"  # quantised to a palette
            sizes[path.name] = image.size
    assert sizes == {"console-overview.png": (1280, 800), "portal-home.png": (390, 844)}
