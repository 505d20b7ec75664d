"""The optional compiled (mypyc) rules kernel: loaded when built, never stale.

``make compile`` builds the kernel's extensions in place, next to their sources, and records
the sha256 of each compiled source in ``src/kopilka/domain/rules/compiled.json``. Python
imports an extension instead of its source, so an edit to a compiled module after the build
would silently not run: that fails here. Without a build in place the test is skipped.
CI sets ``KOPILKA_EXPECT_COMPILED=1`` when it runs the suite against a compiled copy.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import kopilka.domain.rules as rules

RULES_DIR = Path(rules.__file__).parent
SRC = RULES_DIR.parents[2]
MANIFEST = RULES_DIR / "compiled.json"


def _built() -> list[Path]:
    """The extension files of the rules package (a build in place)."""
    return sorted(p for suffix in EXTENSION_SUFFIXES for p in RULES_DIR.glob(f"*{suffix}"))


def test_a_build_in_place_matches_its_sources() -> None:
    built = _built()
    if not built:
        pytest.skip("no compiled kernel in place (make compile builds one)")
    assert MANIFEST.exists(), "compiled modules without compiled.json: run make compile"
    recorded: dict[str, str] = json.loads(MANIFEST.read_text())["sources"]
    stale = [
        path
        for path, digest in sorted(recorded.items())
        if hashlib.sha256((SRC / path).read_bytes()).hexdigest() != digest
    ]
    assert not stale, f"compiled kernel is stale for {stale}: run make compile"
    compiled = {p.name.split(".", 1)[0] for p in built}
    assert compiled == {Path(path).stem for path in recorded}, "run make compile"


def test_compiled_flag_tells_how_the_kernel_runs() -> None:
    earning = importlib.import_module("kopilka.domain.rules.earning")
    loaded_as_extension = not str(earning.__file__).endswith(".py")
    assert rules.COMPILED is loaded_as_extension
    if os.environ.get("KOPILKA_EXPECT_COMPILED") == "1":
        assert rules.COMPILED, "KOPILKA_EXPECT_COMPILED=1 but the kernel runs as Python"
        for name in json.loads(MANIFEST.read_text())["sources"]:
            module = importlib.import_module(name.removesuffix(".py").replace("/", "."))
            assert not str(module.__file__).endswith(".py"), f"{name} runs as Python"
