"""The people's guides, ``docs/console.md`` and ``docs/portal.md``: the README links both,
every link and picture in them resolves inside the repository (a clone has all of it, and
nothing is fetched from another site), and every in-page anchor names a heading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ("docs/console.md", "docs/portal.md")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_links_both_guides() -> None:
    """README.md points a reader at the console's and the portal's guide."""
    readme = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    for guide in GUIDES:
        assert f"]({guide})" in readme


@pytest.mark.parametrize("guide", GUIDES)
def test_a_guide_links_only_inside_the_repository(guide: str) -> None:
    """Each link and screenshot of the guide is a file of the repository or a heading of
    the guide itself; none leaves the repository."""
    path = ROOT / guide
    text = path.read_text(encoding="utf-8")
    headings = {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    targets = LINK.findall(text)
    assert any(t.startswith("screenshots/") for t in targets), "the guide shows the pages"
    for target in targets:
        assert "://" not in target, f"{guide} links outside the repository: {target}"
        file, _, anchor = target.partition("#")
        if file:
            assert (path.parent / file).exists(), f"{guide}: {target} does not exist"
        else:
            assert anchor in headings, f"{guide}: no heading for #{anchor}"
