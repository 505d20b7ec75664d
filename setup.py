"""Build hook: an optional compiled (mypyc) rules kernel; everything else is in pyproject.toml.

By default this is a plain pure-Python install. With ``KOPILKA_COMPILE=1`` the modules of
:data:`KERNEL` (the purchase evaluation hot path) are compiled to C extensions with mypyc,
which ships with mypy (the ``dev`` extra), so build in an environment that has it, with
setuptools>=77 and pydantic (the project's mypy configuration loads its plugin)::

    KOPILKA_COMPILE=1 python setup.py build_ext --inplace       # make compile (into src)
    KOPILKA_COMPILE=1 pip install --no-build-isolation .        # a compiled install

The Python sources stay the reference and the fallback: the extensions are imported instead
of them when present. The build records the sha256 of each compiled source in
``src/kopilka/domain/rules/compiled.json`` so that a stale in-place build does not go
unnoticed (``tests/unit/test_compiled.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"
MANIFEST = SRC / "kopilka" / "domain" / "rules" / "compiled.json"
# not award_tuple.py: the named tuple Award that context.py uses only when it runs as Python
KERNEL = tuple(
    f"kopilka/domain/rules/{name}.py"
    for name in (
        "allocation",
        "conditions",
        "context",
        "earning",
        "exact",
        "limits",
        "model",
        "pilot",
        "plan",
        "rule",
    )
)


METADATA_ONLY = {"egg_info", "dist_info"}  # what pip runs before building: nothing to compile


def compiled_extensions() -> list[object]:
    """The kernel's extensions when ``KOPILKA_COMPILE=1``, else none."""
    if os.environ.get("KOPILKA_COMPILE") != "1":
        return []
    commands = {arg for arg in sys.argv[1:] if not arg.startswith("-")}
    if commands and commands <= METADATA_ONLY:
        return []
    from mypyc.build import mypycify  # only needed when compiling

    MANIFEST.write_text(
        json.dumps(
            {
                "sources": {
                    path: hashlib.sha256((SRC / path).read_bytes()).hexdigest() for path in KERNEL
                }
            },
            indent=2,
        )
        + "\n"
    )
    here = Path.cwd()
    os.chdir(ROOT)  # mypyc names the modules by their paths under src
    try:
        return list(
            mypycify([f"src/{path}" for path in KERNEL], group_name="kopilka_kernel", opt_level="3")
        )
    finally:
        os.chdir(here)


setup(ext_modules=compiled_extensions())
