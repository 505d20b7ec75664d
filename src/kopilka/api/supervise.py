"""The parent process of several API workers: ``python -m kopilka.api.supervise HOST PORT N``.

``kopilka serve --workers N`` (N > 1) migrates the database, then replaces itself with this
module, so the process that only watches the workers holds uvicorn and the logging set-up,
not the whole CLI (about 60 MB less, counted in the server's memory).

Each worker listens on a socket of its own, bound to the same address with
``SO_REUSEPORT``, and the kernel spreads new connections over the workers' sockets. With
one socket shared by every worker (uvicorn's own ``--workers``), the worker that was idle
when connections arrived took all that were waiting: the load test's 16 connections,
opened together, went to one worker in most runs, and the other worker idled for the
whole run (bench/README.md, eighth round). Tills behind a proxy keep their connections
open just as long, so the same lopsided split would last there.

The parent restarts a worker that dies, stops when a worker fails to start (a broken
configuration fails the same way again), and on SIGINT or SIGTERM stops the workers,
each finishing the requests it has in hand.

The workers count their metrics in files of one directory (prometheus_client's
multiprocess mode), so ``/metrics``, whichever worker answers it, reports the sum over
every worker, those that ended included: a scrape never sees a counter go back. The
directory is ``PROMETHEUS_MULTIPROC_DIR`` when the operator sets it (emptied at start),
else a temporary one, removed at the end.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kopilka.settings import Settings

FACTORY = "kopilka.api.factory:app_factory"
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# uvicorn's exit status for a worker whose application or socket could not start
STARTUP_FAILURE = 3
STOP_TIMEOUT_S = 30.0

log = logging.getLogger("kopilka.api")


def main(argv: list[str] | None = None) -> None:
    from kopilka.logging import configure_logging
    from kopilka.settings import load_settings

    host, port, workers = argv if argv is not None else sys.argv[1:]
    configure_logging(load_settings())
    with metrics_directory():
        status = Supervisor(host, int(port), int(workers)).run()
    sys.exit(status)


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """The directory the workers count their metrics in, named to them (they are spawned
    with this environment) by ``PROMETHEUS_MULTIPROC_DIR``."""
    chosen = os.environ.get(MULTIPROCESS_DIR)
    path = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="kopilka-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):  # an earlier run's counts are not this run's
        stale.unlink()
    os.environ[MULTIPROCESS_DIR] = str(path)
    try:
        yield path
    finally:
        if not chosen:
            shutil.rmtree(path, ignore_errors=True)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` that other workers' sockets may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def serve(host: str, port: int) -> None:
    """One worker process: uvicorn on a socket of its own (run in the child)."""
    import uvicorn

    from kopilka.logging import configure_logging
    from kopilka.settings import load_settings

    settings = load_settings()
    configure_logging(settings)
    try:
        sock = listening_socket(host, port)
    except OSError as e:
        log.error("worker cannot listen on %s:%s: %s", host, port, e.strerror or e)
        sys.exit(STARTUP_FAILURE)
    config = uvicorn.Config(host=host, port=port, **uvicorn_options(settings))
    uvicorn.Server(config).run(sockets=[sock])


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What every Kopilka uvicorn runs with, besides where it listens."""
    return {
        "app": FACTORY,
        "factory": True,
        "log_config": None,  # keep the structlog configuration of configure_logging
        "server_header": False,
        # the client's address from X-Forwarded-For, only when it comes from a proxy
        # named in KOPILKA_FORWARDED_ALLOW_IPS (sign-in limits count per address)
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or None,
    }


def in_use(host: str, port: int) -> bool:
    """Whether something already accepts connections on ``host:port``. A second Kopilka
    would bind beside it with ``SO_REUSEPORT`` and silently take half of its traffic."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


class Supervisor:
    def __init__(self, host: str, port: int, workers: int) -> None:
        self.host, self.port, self.count = host, port, workers
        self._spawn = multiprocessing.get_context("spawn")
        self._stop = threading.Event()

    def _ask_stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping the workers", signal.Signals(signum).name)
        self._stop.set()

    def _start(self) -> BaseProcess:
        process = self._spawn.Process(
            target=serve, args=(self.host, self.port), name="kopilka-worker"
        )
        process.start()
        log.info("worker %s started", process.pid)
        return process

    def run(self) -> int:
        """Serve until asked to stop; the exit status (0, or why it stopped by itself)."""
        if in_use(self.host, self.port):
            log.error("%s:%s is already in use by another server", self.host, self.port)
            return 1
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._ask_stop)
        status = 0
        workers = [self._start() for _ in range(self.count)]
        log.info("serving http://%s:%s with %d workers", self.host, self.port, self.count)
        try:
            while not self._stop.wait(0.5):
                for i, process in enumerate(workers):
                    if process.is_alive():
                        continue
                    if process.exitcode == STARTUP_FAILURE:
                        log.error("worker %s failed to start: stopping", process.pid)
                        status = STARTUP_FAILURE
                        self._stop.set()
                        break
                    log.warning("worker %s ended (%s): restarting", process.pid, process.exitcode)
                    workers[i] = self._start()
        finally:
            self._stop_all(workers)
        return status

    @staticmethod
    def _stop_all(workers: list[BaseProcess]) -> None:
        for process in workers:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in hand
        for process in workers:
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                log.warning("worker %s did not stop in time: killing it", process.pid)
                process.kill()
                process.join()


if __name__ == "__main__":
    main()
