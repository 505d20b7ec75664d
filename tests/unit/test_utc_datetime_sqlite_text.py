"""On SQLite, ``UTCDateTime`` binds a datetime in one step, to exactly the text that
SQLAlchemy's two steps (the conversion to naive UTC, then the SQLite DATETIME's storage
format) give, so rows written before and after compare and sort the same."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite import DATETIME

from kopilka.store.types import UTCDateTime

DIALECT = sqlite.dialect()
FUSED = UTCDateTime().bind_processor(DIALECT)
STORAGE = DATETIME().bind_processor(DIALECT)

instants = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones()
)


def _two_steps(value: datetime) -> str:
    return str(STORAGE(value.astimezone(UTC).replace(tzinfo=None)))


@given(instants)
def test_one_step_gives_the_text_of_the_two(value: datetime) -> None:
    assert FUSED(value) == _two_steps(value)


@given(instants)
def test_whole_seconds_keep_their_microseconds_field(value: datetime) -> None:
    whole = value.replace(microsecond=0)
    assert FUSED(whole) == _two_steps(whole)
    assert FUSED(whole).endswith(".000000")


def test_none_and_naive_values() -> None:
    assert FUSED(None) is None
    with pytest.raises(ValueError, match="naive"):
        FUSED(datetime(2026, 1, 1))


def test_postgresql_keeps_aware_datetimes() -> None:
    process = UTCDateTime().bind_processor(postgresql.dialect())
    at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert (process(at) if process else at) == at


def test_compiled_statements_bind_with_the_one_step() -> None:
    """What SQLAlchemy and FastStatement actually call for a UTCDateTime column."""
    from sqlalchemy import insert

    from kopilka.store.tables import lots

    processors = insert(lots).compile(dialect=DIALECT)._bind_processors
    assert processors["earned_at"].__name__ == "to_sqlite_text"
