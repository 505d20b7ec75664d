"""``kopilka serve``: the HTTP API under uvicorn.

The database is migrated once, then uvicorn imports ``kopilka.api.factory:app_factory``
in each worker process (``factory=True``), so the engine is built in the worker that uses
it, never at import time, and the workers import neither the CLI nor Alembic.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from kopilka.cli.errors import fail
from kopilka.cli.runtime import settings


def app_factory() -> Any:
    """Build the FastAPI app on the configured database, migrated first (for embedding;
    ``kopilka serve`` migrates once and then uses ``kopilka.api.factory``)."""
    from kopilka.api.app import create_app
    from kopilka.app import build
    from kopilka.logging import configure_logging
    from kopilka.settings import load_settings

    s = load_settings()
    # each worker process configures its own logging
    configure_logging(s)
    return create_app(build(s, migrate=True, background_checkpoints=True))


def api_available() -> bool:
    """Whether the HTTP API package is installed in this build."""
    from importlib.util import find_spec

    try:
        return find_spec("kopilka.api.app") is not None
    except ModuleNotFoundError:
        return False


def run_server(
    host: str | None = None, port: int | None = None, workers: int | None = None
) -> None:
    """Run uvicorn in the foreground until interrupted."""
    import uvicorn

    s = settings()
    if not api_available():
        fail("not_available", "the HTTP API (kopilka.api.app) is not part of this build yet")
    from kopilka.store.migrate import upgrade

    upgrade(s.effective_database_url)  # once, before any worker starts
    host, port, workers = host or s.host, port or s.port, workers or s.workers
    if workers > 1:
        # the parent of the workers only watches them: a fresh, light process (same pid)
        args = [sys.executable, "-m", "kopilka.api.supervise", host, str(port), str(workers)]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, args)  # noqa: S606 (our own interpreter and module)
    from kopilka.api.supervise import uvicorn_options

    uvicorn.run(host=host, port=port, workers=workers, **uvicorn_options(s))


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (KOPILKA_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="TCP port (KOPILKA_PORT, default 8000).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Worker processes (KOPILKA_WORKERS).")
    ] = None,
) -> None:
    """Serve the HTTP API (default http://127.0.0.1:8000, docs at /docs)."""
    run_server(host, port, workers)
