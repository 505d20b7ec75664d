"""What every command that touches the database shares: settings, the wired app, output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console

from kopilka.app import Kopilka, build
from kopilka.domain.errors import ValidationError
from kopilka.logging import configure_logging
from kopilka.settings import Settings, load_settings

# for commands that declare ``json_out: bool = JsonOption`` (selectors.Json is the
# Annotated form)
JsonOption = typer.Option(False, "--json", help="Print the result as JSON.")


def settings() -> Settings:
    """The process settings (from KOPILKA_* variables), with logging configured."""
    s = load_settings()
    configure_logging(s)
    return s


@contextmanager
def kopilka(**overrides: Any) -> Iterator[Kopilka]:
    """The wired application for one command; the engine is disposed afterwards. On a
    SQLite file, a thread checkpoints the write-ahead log while the command runs (as in
    the API server; see :mod:`kopilka.store.checkpoint`)."""
    s = settings()
    app = build(s.model_copy(update=overrides) if overrides else s, background_checkpoints=True)
    try:
        with app.checkpointer or nullcontext():
            yield app
    finally:
        app.close()


def console() -> Console:
    # built on demand so that tests capturing stdout see the output
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def parse_instant(value: str | None, name: str = "as_of") -> datetime | None:
    """An ISO 8601 instant; a value without an offset is read as UTC."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{name} must be an ISO 8601 date or time, e.g. 2026-03-31T00:00:00Z", field=name
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC)
