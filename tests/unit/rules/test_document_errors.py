"""Rules documents the YAML reader itself refuses."""

from __future__ import annotations

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.rules import parse_ruleset


def test_control_characters_are_a_validation_error_not_a_crash():
    """A document with a character YAML refuses (U+0081) is reported at line 1."""
    with pytest.raises(ValidationError) as err:
        parse_ruleset("rules: []\u0081", fmt="yaml")
    assert "line 1" in str(err.value)
