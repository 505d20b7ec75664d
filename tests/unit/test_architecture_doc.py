"""The project's design document is its own ``docs/architecture.md``: it numbers the ledger
invariants, every citation of an invariant names a number it has, and nothing points at a
design file outside the repository (a clone would not have it)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
SCANNED = ("src", "tests", "bench", "docs", "README.md", "Makefile", "pyproject.toml")
SUFFIXES = {".py", ".md", ".html", ".yaml", ".toml", ".txt", ""}
# spelled in two parts so that this file does not match itself
OUTSIDE = re.compile("DES" + r"IGN\.md|\.\./" + "shared")
CITED = re.compile(r"invariants? (\d+)(?: and (\d+))?")


def _files() -> list[Path]:
    found: list[Path] = []
    for name in SCANNED:
        path = ROOT / name
        candidates = [path] if path.is_file() else path.rglob("*")
        found += [
            f
            for f in candidates
            if f.is_file()
            and f.suffix in SUFFIXES
            and not any(part == "__pycache__" or part.endswith(".egg-info") for part in f.parts)
        ]
    return found


def test_architecture_doc_numbers_the_ten_invariants() -> None:
    """docs/architecture.md lists invariants 1 to 10 in order, and the README links it."""
    text = DOC.read_text(encoding="utf-8")
    invariants = text[text.index("## The invariants") : text.index("## Storage")]
    numbered = [int(n) for n in re.findall(r"^(\d+)\. \*\*", invariants, re.MULTILINE)]
    assert numbered == list(range(1, 11))
    for section in ("## Layers", "## The invariants", "## Storage", "## A purchase's way",
                    "## Idempotency", "## Errors"):  # fmt: skip
        assert section in text, section
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_nothing_cites_a_design_file_outside_the_repository() -> None:
    """No source, test, benchmark or document refers to a design file beside the clone."""
    offenders = [
        str(f.relative_to(ROOT))
        for f in _files()
        if OUTSIDE.search(f.read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == []


def test_cited_invariants_exist_in_the_architecture_doc() -> None:
    """Every "invariant N" that code or tests cite is one of the document's ten, and each
    citing file names docs/architecture.md."""
    cited: dict[str, set[int]] = {}
    for f in _files():
        if f == DOC:
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        numbers = {int(n) for pair in CITED.findall(text) for n in pair if n}
        if numbers:
            cited[str(f.relative_to(ROOT))] = numbers
            assert "docs/architecture.md" in text, f
    assert cited  # the ledger code and its tests do cite them
    assert all(n in range(1, 11) for numbers in cited.values() for n in numbers), cited
