"""A database that cannot be reached is ``503`` with ``Retry-After: 1`` (a problem from
the API, a page from the console and the portal), whether the connection is refused, does
not answer, or breaks under a request; and the API answers again at once when the
database is back.

The outage is a throwaway TCP proxy in front of the test server, stopped and started:
the machine's PostgreSQL itself is never touched."""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
import structlog
from fastapi.testclient import TestClient
from httpx import Response

from kopilka.api.app import create_app
from kopilka.app import Kopilka
from kopilka.domain.clock import SystemClock
from kopilka.logging import configure_logging
from kopilka.services import apikeys
from kopilka.services import programs as program_svc
from kopilka.services.context import ServiceContext
from kopilka.settings import load_settings
from kopilka.store.db import make_engine
from tests.e2e.web.world import hidden_fields

FAKE_KEY = "kp_0123456789ab_" + "k" * 43  # well formed: only the database can refuse it


def _closed_port() -> int:
    """A port nothing listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _app_on(url: str) -> Kopilka:
    engine = make_engine(url, pool_size=2)
    settings = load_settings(database_url=url, environment="test")
    return Kopilka(settings, engine, ServiceContext(engine, SystemClock()))


def _assert_unavailable(r: Response, *, page: bool = False) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "1"
    if page:
        assert r.headers["content-type"].startswith("text/html")
        assert "unavailable" in r.text
    else:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "unavailable"


def test_a_refused_connection_is_503_on_the_api_and_the_pages() -> None:
    """With PostgreSQL refusing connections, the API's reads and writes, the portal's
    sign-in page and the console's sign-in are 503 with Retry-After: 1, at once."""
    kopilka = _app_on(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/kopilka")
    key = {"Authorization": f"Bearer {FAKE_KEY}"}
    try:
        with TestClient(create_app(kopilka), follow_redirects=False) as c:
            started = time.perf_counter()
            _assert_unavailable(c.get("/v1/me", headers=key))
            _assert_unavailable(c.get("/v1/rules", headers=key))
            _assert_unavailable(
                c.post(
                    "/v1/members",
                    json={"identifiers": {"card": "C-1"}},
                    headers={**key, "Idempotency-Key": "k-1"},
                )
            )
            _assert_unavailable(c.get("/portal/sign-in"), page=True)
            fields = hidden_fields(c.get("/admin/sign-in").text, "/admin/sign-in")
            _assert_unavailable(
                c.post("/admin/sign-in", data={**fields, "api_key": FAKE_KEY}), page=True
            )
            # refused at once: far from a connect timeout (2 s each, 10 s for the five)
            assert time.perf_counter() - started < 5.0
    finally:
        kopilka.close()


class Proxy:
    """A TCP proxy to the test server that can go away (connections refused, those open
    reset) and come back on the same port, or accept and never answer (a host whose
    packets are dropped)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _closed_port()
        self.answer = True
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and reset the open ones."""
        assert self._listener is not None
        with contextlib.suppress(OSError):  # wakes the accepting thread: the port is free
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._listener = None
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            with self._lock:
                self._open.append(client)
            if not self.answer:
                continue  # hold it open, say nothing
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.append(server)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def served_logging() -> Iterator[None]:
    """Logging as ``kopilka serve`` sets it up (text lines), put back afterwards: the
    outage's records go through it, as they would on a server."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(load_settings())
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.fixture
def proxied(
    postgres_url: str, served_logging: None
) -> Iterator[tuple[Proxy, Kopilka, dict[str, str]]]:
    """A proxy to the test database, an app that reaches the database through it, and
    an admin key of a program there."""
    from sqlalchemy.engine import make_url

    direct = make_url(postgres_url)
    proxy = Proxy((direct.host or "127.0.0.1", direct.port or 5432))
    proxy.start()
    engine = make_engine(postgres_url, pool_size=1)
    try:
        ctx = ServiceContext(engine, SystemClock())
        code = f"outage-{proxy.port}-{time.monotonic_ns()}"
        program_svc.create_program(ctx, program_svc.CreateProgram(code))
        _, secret = apikeys.create_key(ctx, code, "admin", "admin")
    finally:
        engine.dispose()
    kopilka = _app_on(direct.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
    try:
        yield proxy, kopilka, {"Authorization": f"Bearer {secret}"}
    finally:
        kopilka.close()
        with contextlib.suppress(AssertionError):
            proxy.stop()


@pytest.mark.parametrize("outage_s", [0.0, 1.2], ids=["brief", "past-the-ping"])
def test_the_api_answers_within_a_second_once_the_database_is_back(
    proxied: tuple[Proxy, Kopilka, dict[str, str]], outage_s: float
) -> None:
    """Connections reset and then refused: 503 with Retry-After while the database is
    away; once it is back, the very next request is answered, within a second, whether
    the pool's connections idled past the ping threshold meanwhile or not."""
    proxy, kopilka, admin = proxied
    with TestClient(create_app(kopilka)) as c:
        for _ in range(3):  # the pool holds a few connections
            assert c.get("/v1/rules", headers=admin).status_code == 200
        proxy.stop()  # the pooled connections are reset; new ones are refused
        for _ in range(3):
            _assert_unavailable(c.get("/v1/rules", headers=admin))
        time.sleep(outage_s)
        proxy.start()
        started = time.perf_counter()
        r = c.get("/v1/rules", headers=admin)
        elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    # answered without waiting out a connect timeout (2 s) on a dead pooled connection;
    # typically 0.01-0.1 s, the margin is for a loaded machine
    assert elapsed < 1.9, elapsed


def test_a_database_that_does_not_answer_is_503_after_the_connect_timeout(
    proxied: tuple[Proxy, Kopilka, dict[str, str]],
) -> None:
    """A server that accepts and then says nothing (packets dropped, a host hung) holds
    a request for the connect timeout (2 s), not psycopg's default 130 s, and it is 503."""
    proxy, kopilka, admin = proxied
    with TestClient(create_app(kopilka)) as c:
        proxy.stop()
        proxy.answer = False
        proxy.start()
        started = time.perf_counter()
        r = c.get("/v1/rules", headers=admin)
        elapsed = time.perf_counter() - started
    _assert_unavailable(r)
    assert elapsed < 6.0, elapsed
