"""``kopilka db``: schema migrations."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from kopilka.cli.runtime import settings

app = typer.Typer(help="Database schema: apply and inspect migrations.", no_args_is_help=True)


def safe_url(url: str) -> str:
    """The URL with any password hidden, for printing."""
    return make_url(url).render_as_string(hide_password=True)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


@app.command()
def upgrade(
    revision: str = typer.Option("head", help="Target revision (default: the latest)."),
) -> None:
    """Bring the database to the latest schema (creates the SQLite file if needed)."""
    from kopilka.app import upgrade_database

    url = settings().effective_database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade_database(url, revision)
    typer.echo(f"database {safe_url(url)} is at revision {current_revision(url)}")


@app.command()
def current() -> None:
    """Show the schema revision the database is at."""
    url = settings().effective_database_url
    rev = current_revision(url)
    typer.echo(f"database {safe_url(url)} is at revision {rev or '(none: run kopilka db upgrade)'}")
