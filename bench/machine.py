"""What every benchmark records beside its figures: machine, versions, command, databases."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).parent
WORK = HERE / ".work"
RESULTS = HERE / "results"
PG_ADMIN = os.environ.get(
    "KOPILKA_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def postgres_version() -> str | None:
    try:
        eng = create_engine(PG_ADMIN)
        with eng.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
        eng.dispose()
        return version
    except Exception:  # no server: the PostgreSQL half is skipped and says so
        return None


def machine() -> dict[str, Any]:
    """The host a figure was measured on."""
    return {
        "nproc": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
    }


def environment() -> dict[str, Any]:
    return {
        "machine": machine(),
        "versions": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "postgres": postgres_version(),
        },
        "command": f"python -m bench.{Path(sys.argv[0]).stem} {' '.join(sys.argv[1:])}".strip(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_result(name: str, data: dict[str, Any], quick: bool) -> Path:
    """``bench/results/<name>.json`` (quick runs go under ``bench/.work`` instead)."""
    folder = WORK / "results-quick" if quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({**environment(), **data}, indent=2) + "\n")
    return path


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that ran ``bench.<script>`` with these arguments (``None``: this process's)."""
    args = sys.argv[1:] if argv is None else argv
    return f"python -m bench.{script} {' '.join(args)}".strip()


def keep_earlier_runs(
    name: str,
    results: dict[str, Any],
    ran: list[str],
    quick: bool,
    command: str,
    *,
    same: tuple[str, ...] = (),
    companions: dict[str, str] | None = None,
) -> None:
    """Runs a script did not make this time stay in its results file.

    ``results["runs"]`` is keyed by run name whose first ``_``-separated part is the
    backend; the backends in ``ran`` were run now, and the earlier file's runs of the
    others are kept, each with the command, time and machine of the run that made it (and
    so is a top-level entry that belongs to a backend, ``companions``: {"pgbench":
    "postgres"}). Nothing is kept when the earlier file measured another size (the
    ``same`` keys). The file's own ``machine`` is the newest run's; hosts differ, so a
    kept run names its own.
    """
    now = datetime.now(UTC).isoformat(timespec="seconds")
    host = machine()
    for run in results["runs"].values():
        if isinstance(run, dict):
            run.setdefault("command", command)
            run.setdefault("at", now)
            run.setdefault("machine", host)
    path = (WORK / "results-quick" if quick else RESULTS) / f"{name}.json"
    if not path.exists():
        return
    earlier = json.loads(path.read_text())
    if any(earlier.get(k) != results.get(k) for k in same):
        return
    for run_name, run in earlier.get("runs", {}).items():
        if run_name.split("_")[0] not in ran and isinstance(run, dict):
            run.setdefault("command", earlier.get("command"))
            run.setdefault("at", earlier.get("at"))
            run.setdefault("machine", earlier.get("machine"))
            results["runs"].setdefault(run_name, run)
    for key, backend in (companions or {}).items():
        if backend not in ran and key in earlier and key not in results:
            results[key] = earlier[key]


def sqlite_url(name: str) -> str:
    """The URL of ``bench/.work/<name>.db``, emptied (kept afterwards, to look into)."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{name}.db"
    _remove_sqlite(path, ("", "-wal", "-shm"))
    return f"sqlite:///{path}"


@contextmanager
def sqlite_scratch(name: str) -> Iterator[str]:
    """The URL of a SQLite file of this run's own, ``bench/.work/<name>-<random>.db``,
    removed afterwards with its log, index and writer-lock files: for runs one after
    another in one process, which must not reuse a path (the ``bench_work`` fixture in
    tests/conftest.py says why)."""
    url = sqlite_url(f"{name}-{uuid.uuid4().hex[:10]}")
    try:
        yield url
    finally:
        _remove_sqlite(Path(url.split("///", 1)[1]), ("", "-wal", "-shm", ".writer"))


def _remove_sqlite(path: Path, suffixes: tuple[str, ...]) -> None:
    for suffix in suffixes:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """The URL of an empty database of its own on ``admin_url``'s PostgreSQL server, named
    ``<prefix>_<random>``, dropped afterwards (the test suite's scratch databases too)."""
    db = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        yield make_url(admin_url).set(database=db).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A fresh scratch database on the local server, dropped afterwards."""
    with scratch_database(PG_ADMIN, f"kopilka_bench_{name}") as url:
        yield url


SQLITE_CHECKPOINTS = ("background", "commit")
SQLITE_CHECKPOINTS_HELP = (
    "SQLite: checkpoint the write-ahead log from a thread, as the API server and the CLI "
    "do (background), or inside commits (SQLite's default and the code before the sixth "
    "round)"
)


def bench_engine(
    url: str, checkpoints: str = "background", **kw: Any
) -> tuple[Engine, AbstractContextManager[Any]]:
    """An engine as the product builds it (synchronous NORMAL), and what to enter while
    it writes: on a SQLite file with ``checkpoints="background"``, the log's checkpointer
    (:mod:`kopilka.store.checkpoint`); otherwise nothing."""
    from kopilka.store.checkpoint import WalCheckpointer
    from kopilka.store.db import make_engine, sqlite_file

    background = checkpoints == "background"
    engine = make_engine(
        url, sqlite_synchronous="NORMAL", sqlite_autocheckpoint=not background, **kw
    )
    if background and sqlite_file(engine) is not None:
        return engine, WalCheckpointer(engine)
    return engine, nullcontext()
