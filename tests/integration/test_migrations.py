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
