"""The CSV cell picker: the wanted columns in order, ``""`` and absent columns as None."""

from __future__ import annotations

import random

from kopilka.services.imports.files import _picker


def _plain(columns: list[str], wanted: list[str], cells: list[str]) -> tuple[object, ...]:
    out = []
    for w in wanted:
        value = cells[columns.index(w)] if w in columns else None
        out.append(None if value == "" else value)
    return tuple(out)


def test_the_picker_equals_the_plain_definition() -> None:
    rnd = random.Random(7)
    names = [f"c{i}" for i in range(8)]
    for _ in range(500):
        columns = rnd.sample(names, rnd.randint(1, 8))
        wanted = rnd.sample([*names, "absent", "other"], rnd.randint(1, 10))
        cells = [rnd.choice(["", " ", "x", "0", "", "é"]) for _ in columns]
        want = _plain(columns, wanted, cells)
        assert _picker(tuple(columns), wanted)(list(cells)) == want


def test_one_wanted_column_is_a_one_tuple() -> None:
    assert _picker(("a", "b"), ["b"])(["1", "2"]) == ("2",)
    assert _picker(("a", "b"), ["b"])(["1", ""]) == (None,)
    assert _picker(("a", "b"), ["z"])(["1", "2"]) == (None,)
