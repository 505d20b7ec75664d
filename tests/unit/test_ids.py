"""The id grammar of ``kopilka.domain.ids``."""

from __future__ import annotations

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.ids import check_id, is_id


@pytest.mark.parametrize("value", ["R-1001", "a", "0001.000123", "MSK_001", "x" * 64])
def test_ids_of_the_grammar_are_taken(value: str) -> None:
    """Letters, digits, '_', '.' and '-', starting with a letter or digit, up to 64."""
    assert check_id(value, "receipt_id") == value


@pytest.mark.parametrize(
    "value", ["", "-R", "R/1", "R 1", "R:1", "R\n", "é1", "١٢٣", "x" * 65, 12, None]
)
def test_anything_else_is_refused_with_its_field(value: object) -> None:
    """A slash (not addressable in a path), a colon (Kopilka's own keys join ids with it:
    receipt 'A:B' return 'C' and receipt 'A' return 'B:C' would share the key
    'return:A:B:C'), spaces, non-ASCII, too long or not a string: refused on the field."""
    assert not is_id(value)
    with pytest.raises(ValidationError) as e:
        check_id(value, "return_id")
    assert e.value.details["field"] == "return_id"
