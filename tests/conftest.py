"""Shared fixtures: a migrated database per backend per test session, a frozen clock,
and factories for programs and members.

Tests that take ``backend`` (or ``ctx``) run once on SQLite and once on PostgreSQL.
PostgreSQL is found at ``KOPILKA_TEST_POSTGRES_URL`` (default: the local server's
``test`` database); each session creates and drops its own database there. When the
server is unreachable the PostgreSQL half is skipped, unless
``KOPILKA_REQUIRE_POSTGRES=1`` (CI sets it) makes that an error.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from bench.machine import scratch_database
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine

from kopilka.domain.clock import FrozenClock
from kopilka.domain.program import Program
from kopilka.services import members as member_svc
from kopilka.services import programs as program_svc
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade
from tests.program_spec import program_command

PG_URL = os.environ.get(
    "KOPILKA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
START = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
_seq = itertools.count(1)


def _pg_available() -> str | None:
    try:
        eng = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as e:  # any connection failure means: no server here
        return str(e).splitlines()[0]


@pytest.fixture
def bench_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The benchmarks' scratch SQLite files and quick results (``bench.machine.WORK``) in
    a directory of this test's own, never at a path an earlier run of this process used:
    twice in a full suite a quick run found the file ``sqlite_url`` had just emptied
    already holding the earlier run's program (no file or descriptor of it was left when
    the run began; the cause was not found)."""
    from bench import machine

    monkeypatch.setattr(machine, "WORK", tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def redis_store() -> str:
    """The URL of Redis's database 15 at 127.0.0.1:6379, for the sign-in counts shared by
    workers. Skipped when it does not answer, unless ``KOPILKA_REQUIRE_REDIS=1`` (CI)."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError as e:
        if os.environ.get("KOPILKA_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis required but unreachable: {e}")
        pytest.skip(f"Redis unreachable: {e}")
    return "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("db") / "kopilka.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], str]:
    """Makes ``path`` a copy of an SQLite database migrated once for the session; answers
    its URL. Copying takes milliseconds, the migrations a second or more (a commit waiting
    for the disk after each): for a test that needs a database of its own at head, not
    one that tests the migrations."""
    template = tmp_path_factory.mktemp("migrated") / "kopilka.db"
    upgrade(f"sqlite:///{template}")

    def copy(path: Path) -> str:
        for suffix in ("", "-wal"):  # the log too, should a checkpoint have left one
            if Path(f"{template}{suffix}").exists():
                shutil.copyfile(f"{template}{suffix}", f"{path}{suffix}")
        return f"sqlite:///{path}"

    return copy


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """The URL of an empty database of its own on the test server, dropped afterwards.

    Its commits do not wait for the write-ahead log to reach the disk
    (``synchronous_commit = off``, for every connection to it, a worker process's too): a
    scratch database need not outlive a crash of the server, which no test causes, and
    what a commit makes visible to the other connections is the same. The suite commits
    tens of thousands of times; each waited for the disk (4 ms on this host, 0.8 ms not)."""
    with scratch_database(PG_URL, prefix) as url:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = make_url(url).database
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        admin.dispose()
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    problem = _pg_available()
    if problem:
        if os.environ.get("KOPILKA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    with scratch_postgres("kopilka_t") as url:
        upgrade(url)
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated database: the test runs once per backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


_engines: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """One engine per database for the whole session (pools are expensive).

    SQLite's commits do not wait for the disk (``synchronous=NORMAL``; the write-ahead
    log is still written at each commit, so another connection and a killed process see
    what committed, as with FULL): only a power loss could lose the last ones, which no
    test makes. A commit waited 5 ms for the disk on this host (0.1 ms not), and the
    tests commit tens of thousands of times. The default stays FULL everywhere else."""
    if url not in _engines:
        _engines[url] = make_engine(url, pool_size=20, sqlite_synchronous="NORMAL")
    return _engines[url]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def ctx(backend: str, clock: FrozenClock) -> ServiceContext:
    """Services on a migrated database with a frozen clock."""
    return ServiceContext(engine_for(backend), clock)


@pytest.fixture
def make_program(ctx: ServiceContext) -> Callable[..., Program]:
    """Create a program with a unique code; keyword arguments override its settings."""

    def make(**spec: Any) -> Program:
        code = f"p{next(_seq)}-{uuid.uuid4().hex[:8]}"
        return program_svc.create_program(ctx, program_command(code, **spec))

    return make


@pytest.fixture
def make_member(ctx: ServiceContext) -> Callable[..., int]:
    """Enroll a member with a unique card number; returns the member id."""

    def make(program: Program, **profile: Any) -> int:
        card = f"C{uuid.uuid4().hex[:12].upper()}"
        if isinstance(profile.get("birthday"), str):
            profile["birthday"] = date.fromisoformat(profile["birthday"])
        command = member_svc.Enroll(
            (member_svc.identifier("card", card),), profile=member_svc.Profile(**profile)
        )
        return member_svc.enroll(ctx, program, command).id

    return make


def _heavy_seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("heavy")
    return float(marker.args[0]) if marker else 0.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests marked ``heavy`` first, the longest first, the rest after them in the
    (shuffled) order they came in. xdist hands tests to whichever worker is free in this
    order, so the long ones start at once on both workers and the thousands of short ones
    even the workers out afterwards; a five-minute test handed out last kept one worker
    busy for minutes after the other had finished."""
    items.sort(key=lambda item: -_heavy_seconds(item))  # stable: the rest keep their order


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for eng in _engines.values():
        eng.dispose()
