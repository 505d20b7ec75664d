"""``receipt_ref``, which routes a receipt to the process owning its member under
``import purchases --jobs``, reads the member exactly as ``parse_receipt`` does: for every
receipt ``parse_receipt`` accepts, the same ref; ``None`` only where it refuses."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.services.imports.rows import PURCHASE_COLUMNS, parse_receipt, receipt_ref

from .test_import_fast_rows import NOW, good_line

MEMBER_CELLS = ("member_external_id", "member_card", "member_phone", "member_email", "member_id")
VALUES = st.one_of(
    st.sampled_from(["", "  ", "c-0001", " c-0001 ", "C-0001", "42", "0", "-3", " 7 ", "x"]),
    st.sampled_from(["+7 900 123-45-67", "89001234567", "bad phone!", "A@Example.com", "a@b"]),
    st.integers(min_value=-2, max_value=50),
)


@st.composite
def receipts(draw: st.DrawFn) -> list[tuple[int, tuple[Any, ...]]]:
    """Mostly one member column with one value, blank on some lines; else anything."""
    n = draw(st.integers(min_value=1, max_value=4))
    one = draw(st.sampled_from(MEMBER_CELLS))
    value = draw(VALUES)
    anything = draw(st.booleans())
    rows = []
    for i in range(n):
        cells = list(good_line(i + 1, member_card=None))
        if anything:
            for name in draw(st.lists(st.sampled_from(MEMBER_CELLS), max_size=2)):
                cells[PURCHASE_COLUMNS.index(name)] = draw(VALUES)
        else:
            cells[PURCHASE_COLUMNS.index(one)] = draw(st.sampled_from([value, value, None, ""]))
        rows.append((i + 2, tuple(cells)))
    return rows


@settings(max_examples=400, deadline=None)
@given(receipts())
def test_receipt_ref_reads_the_member_as_parse_receipt_does(rows):
    ref = receipt_ref(rows)
    try:
        parsed = parse_receipt("R1", rows, len(rows), Program(id=1, code="p", name="P"), NOW)
    except ValidationError:
        return  # refused: the reader hands it to job 0, which reports parse_receipt's error
    assert ref == parsed.ref
