"""Alembic migrations: the schema they build is the one the code describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kopilka.store.migrate import downgrade, upgrade
from kopilka.store.tables import metadata
from tests.conftest import engine_for


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
