"""Each API worker settles its heap once the app is built (in a child process: it changes
the interpreter's collector settings for good)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import gc
from kopilka.api.factory import settle_heap
before = gc.get_freeze_count()
settle_heap()
print(before, gc.get_freeze_count(), *gc.get_threshold())
"""


def test_settle_heap_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=True
    ).stdout.split()
    before, after, young, middle, old = map(int, out)
    assert before == 0
    assert after > 1_000  # the interpreter's and kopilka's modules, now out of collections
    assert (young, middle, old) == (7_000, 10, 10)
