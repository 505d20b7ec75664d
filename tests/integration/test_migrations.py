"""Alembic migrations: the schema they build is the one the code describes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from kopilka.store.migrate import downgrade, upgrade
from kopilka.store.tables import metadata
from tests.conftest import engine_for, scratch_postgres


def test_migrations_match_the_tables(backend):
    """After `db upgrade`, autogenerate finds nothing to change on this database."""
    with engine_for(backend).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_migrations_go_down_and_up_again(tmp_path):
    """Every migration can be undone and replayed (checked on a scratch SQLite file)."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    downgrade(url, "base")
    upgrade(url)


def _purchase_foreign_keys(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    try:
        found = inspect(engine)
        return {
            table: sorted(fk["name"] for fk in found.get_foreign_keys(table))
            for table in ("purchase_lines", "line_awards", "returns")
        }
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own, which the test may migrate up and down."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails) like the other tests
    with scratch_postgres("kopilka_m") as url:
        yield url


def test_purchase_details_lose_their_foreign_keys_and_downgrade_restores_them(scratch_url):
    """0006 drops the keys of purchase lines and line awards (verify checks them instead);
    a return keeps its key; going back to 0005 restores both keys."""
    upgrade(scratch_url)
    assert _purchase_foreign_keys(scratch_url) == {
        "purchase_lines": [],
        "line_awards": [],
        "returns": ["fk_returns_purchase_id_purchases"],
    }
    downgrade(scratch_url, "0005")
    assert _purchase_foreign_keys(scratch_url) == {
        "purchase_lines": ["fk_purchase_lines_purchase_id_purchases"],
        "line_awards": ["fk_line_awards_purchase_id_purchases"],
        "returns": ["fk_returns_purchase_id_purchases"],
    }


def _reversal_index(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_journal_reverses'"
            else:
                sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_journal_reverses'"
            return str(conn.exec_driver_sql(sql).scalar_one())
    finally:
        engine.dispose()


def _reversal_lookup_plan(url: str) -> str:
    """How the database plans the ledger's read of an entry's reversals."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                rows = conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT id FROM journal_entries WHERE reverses_entry_id = ?",
                    (7,),
                )
                return " ".join(str(r[-1]) for r in rows)
            conn.exec_driver_sql("SET enable_seqscan = off")  # an empty table: any plan works
            conn.exec_driver_sql(
                "PREPARE reversals (bigint) AS "
                "SELECT id FROM journal_entries WHERE reverses_entry_id = $1"
            )
            conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            rows = conn.exec_driver_sql("EXPLAIN EXECUTE reversals(7)")
            return " ".join(str(r[0]) for r in rows)
    finally:
        engine.dispose()


def test_the_reversal_index_holds_reversals_only_and_serves_their_lookup(scratch_url):
    """0007 keeps only entries that reverse another in ``ix_journal_reverses``; a lookup by
    a bound value (SQLite) and a generic prepared plan (PostgreSQL) still use it; going
    back to 0006 restores the full index."""
    upgrade(scratch_url)
    assert "reverses_entry_id IS NOT NULL" in _reversal_index(scratch_url)
    assert "ix_journal_reverses" in _reversal_lookup_plan(scratch_url)
    downgrade(scratch_url, "0006")
    assert "WHERE" not in _reversal_index(scratch_url)
    assert "ix_journal_reverses" in _reversal_lookup_plan(scratch_url)
