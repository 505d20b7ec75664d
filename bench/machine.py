"""What every benchmark records beside its figures: machine, versions, command, databases."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
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


def environment() -> dict[str, Any]:
    return {
        "machine": {
            "nproc": os.cpu_count(),
            "memory_gib": _memory_gib(),
            "cpu": _cpu_model(),
            "platform": platform.platform(),
        },
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


def sqlite_url(name: str) -> str:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A fresh scratch database on the local server, dropped afterwards."""
    db = f"kopilka_bench_{name}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        yield make_url(PG_ADMIN).set(database=db).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()
