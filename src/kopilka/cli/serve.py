"""``kopilka serve``: the HTTP API under uvicorn.

The database is migrated once, then uvicorn imports ``kopilka.api.factory:app_factory``
in each worker process (``factory=True``), so the engine is built in the worker that uses
it, never at import time, and the workers import neither the CLI nor Alembic.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from typing import Annotated, Any

import typer

from kopilka.cli.errors import fail
from kopilka.cli.runtime import settings

EXIT_UNAVAILABLE = 1  # the port is taken: the same status as the workers' supervisor
SERVE_PORT_HINT = "serve on another port: kopilka serve --port {port} (or KOPILKA_PORT={port})"


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


def cannot_listen(host: str, port: int) -> OSError | None:
    """Why a server could not listen on ``host:port`` now (None: it could). Bound the way
    uvicorn binds (``SO_REUSEADDR``), so a port left in TIME_WAIT by a stopped server counts
    as free, as it is for uvicorn."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as e:
        return e
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as e:
            return e
    return None


def check_port(host: str, port: int, how: str, *, any_problem: bool = False) -> None:
    """Stop with a clear error, before anything else happens, when ``host:port`` is taken
    (with ``any_problem``, also when it cannot be listened on for another reason); ``how``
    tells how to choose another port (``{port}`` is replaced by a free one)."""
    problem = cannot_listen(host, port)
    if problem is None or not (any_problem or problem.errno == errno.EADDRINUSE):
        return
    last = min(port + 50, 65536)
    free = next((p for p in range(port + 1, last) if cannot_listen(host, p) is None), port + 1)
    hint = how.format(port=free)
    if problem.errno == errno.EADDRINUSE:
        message = f"{host}:{port} is already in use (another server?)"
        fail("port_in_use", message, EXIT_UNAVAILABLE, hint=hint)
    message = f"cannot listen on {host}:{port}: {problem.strerror or problem}"
    fail("port_unavailable", message, EXIT_UNAVAILABLE, hint=hint)


def run_server(
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    port_hint: str = SERVE_PORT_HINT,
) -> None:
    """Run uvicorn in the foreground until interrupted; a port already in use stops it at
    once, with ``port_hint`` (see :func:`check_port`)."""
    import uvicorn

    s = settings()
    if not api_available():
        fail("not_available", "the HTTP API (kopilka.api.app) is not part of this build yet")
    from kopilka.app import upgrade_database

    host, port, workers = host or s.host, port or s.port, workers or s.workers
    # before the migration: a taken port fails at once, not with uvicorn's bare errno
    check_port(host, port, port_hint)
    upgrade_database(s.effective_database_url)  # once, before any worker starts
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
