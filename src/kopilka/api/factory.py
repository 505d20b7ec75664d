"""The application factory that ``kopilka serve`` hands to uvicorn.

uvicorn imports it in each worker process (``factory=True``), so the engine is built in the
worker that uses it, never at import time. It imports neither the CLI nor Alembic: the
serving command migrates the database once before the workers start, and each worker
stays ~20 MB smaller (the server's memory goal counts every process).
"""

from __future__ import annotations

import gc
from typing import Any


def app_factory() -> Any:
    """Build the FastAPI app on the configured (already migrated) database."""
    from kopilka.api.app import create_app
    from kopilka.app import build
    from kopilka.logging import configure_logging
    from kopilka.settings import load_settings

    s = load_settings()
    configure_logging(s)  # each worker process configures its own logging
    app = create_app(build(s, background_checkpoints=True))
    settle_heap()
    return app


def settle_heap() -> None:
    """Keep what start-up built (modules, the app, compiled statements) out of every
    later garbage collection, and collect the young generation less often: a request
    allocates a few thousand short-lived objects and leaves few cycles behind. Measured
    in process over 1,600 purchases: time in the collector 0.111 s → 0.013 s."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7_000, 10, 10)
