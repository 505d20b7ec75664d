"""``kopilka serve --workers 2``: the database is migrated once, the parent becomes the
light ``kopilka.api.supervise`` process, the workers answer, each on a listening socket of
its own, and the parent replaces a worker that dies."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from kopilka.services.context import ServiceContext
from kopilka.services.programs import create_program
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade
from tests.program_spec import program_command

BIN = Path(sys.executable).parent / "kopilka"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and (p / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(
                pid
            ):
                found.append(int(p.name))
        except OSError:
            continue  # the process ended meanwhile
    return found


def _workers(pid: int) -> list[int]:
    """The worker processes of the parent ``pid``: its children less multiprocessing's
    resource tracker."""
    return [
        child
        for child in _children(pid)
        if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def _sockets(port: int, state: str) -> set[int]:
    """Inodes of the IPv4 TCP sockets with local ``port`` in ``state`` (kernel hex code)."""
    found = set()
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = row.split()
        if int(cols[1].split(":")[1], 16) == port and cols[3] == state:
            found.add(int(cols[9]))
    return found


def _owned(pid: int, inodes: set[int]) -> set[int]:
    """Which of ``inodes`` process ``pid`` holds open."""
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            held.add(int(link[8:-1]))
    return held & inodes


LISTEN, ESTABLISHED = "0A", "01"


@contextmanager
def _serving(
    tmp_path: Path, port: int, host: str = "127.0.0.1", workers: int = 2, **settings: str
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "KOPILKA_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "KOPILKA_HOST": host,
        "KOPILKA_PORT": str(port),
        "KOPILKA_LOG_LEVEL": "info",
        **{f"KOPILKA_{name.upper()}": value for name, value in settings.items()},
    }
    proc = subprocess.Popen(
        [str(BIN), "serve", "--workers", str(workers)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _ready(proc: subprocess.Popen[bytes], port: int, workers: int = 2) -> None:
    """Until /readyz answers 200 and ``workers`` workers listen."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200 and len(_sockets(port, LISTEN)) >= workers:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    output = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
    pytest.fail(f"not ready: {output}")


pytestmark = [
    pytest.mark.skipif(not BIN.exists(), reason="the kopilka command is not installed"),
    pytest.mark.heavy(15),
]


def test_two_workers_behind_a_light_parent(tmp_path: Path) -> None:
    port = _free_port()
    with _serving(tmp_path, port) as proc:
        _ready(proc, port)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"kopilka.api.supervise" in cmdline
        workers = _workers(proc.pid)
        assert len(workers) == 2
        # a listening socket in each worker, none in the parent
        listening = _sockets(port, LISTEN)
        assert len(listening) == 2
        assert [len(_owned(w, listening)) for w in workers] == [1, 1]
        assert not _owned(proc.pid, listening)


def test_connections_opened_together_reach_both_workers(tmp_path: Path) -> None:
    """With one socket shared by the workers, connections opened at once all went to the
    worker that was idle at that instant (most runs of the load test). With a socket per
    worker the kernel spreads them: 16 all on one of two sockets has a chance of 2**-15."""
    port = _free_port()
    with _serving(tmp_path, port) as proc:
        _ready(proc, port)
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
        try:
            for c in conns:  # one request each, so that every connection is accepted
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for c in conns:
                assert c.recv(64).startswith(b"HTTP/1.1 200")
            accepted = _sockets(port, ESTABLISHED)
            per_worker = [len(_owned(w, accepted)) for w in _workers(proc.pid)]
            assert sum(per_worker) == 16
            assert min(per_worker) >= 1, per_worker
        finally:
            for c in conns:
                c.close()


def _healthz_counted(port: int) -> float:
    """``/healthz`` requests answered 200, by a fresh connection's ``/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    pattern = r'kopilka_http_requests_total\{[^}]*route="/healthz"[^}]*\} (\S+)'
    return sum(float(value) for value in re.findall(pattern, text))


def test_metrics_count_every_workers_requests(tmp_path: Path) -> None:
    """Whichever worker answers ``/metrics`` reports the requests of both, and a worker
    that ends does not take its counts with it: a counter never goes back."""
    port = _free_port()
    with _serving(tmp_path, port) as proc:
        _ready(proc, port)
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
        try:
            for c in conns:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for c in conns:
                assert c.recv(64).startswith(b"HTTP/1.1 200")
        finally:
            for c in conns:
                c.close()
        # a request is counted just after its answer is sent: let the last ones land
        deadline = time.monotonic() + 10
        while _healthz_counted(port) < 16 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [_healthz_counted(port) for _ in range(6)] == [16.0] * 6
        victim = _workers(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and victim in _workers(proc.pid):
            time.sleep(0.2)
        _ready(proc, port)
        assert [_healthz_counted(port) for _ in range(6)] == [16.0] * 6


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    port = _free_port()
    with _serving(tmp_path, port) as proc:
        _ready(proc, port)
        victim = _workers(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = _workers(proc.pid)
            if len(workers) == 2 and victim not in workers:
                break
            time.sleep(0.2)
        assert victim not in _workers(proc.pid)
        _ready(proc, port)
        assert len(_workers(proc.pid)) == 2
        assert proc.poll() is None


def test_a_port_taken_by_another_server_is_refused(tmp_path: Path) -> None:
    """A second server on the port would share it (SO_REUSEPORT) and take half its traffic."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with _serving(tmp_path, port) as proc:
            assert proc.wait(60) == 1
            assert proc.stdout is not None
            assert b"already in use" in proc.stdout.read()


def test_a_worker_that_cannot_start_stops_the_server(tmp_path: Path) -> None:
    """An address of no interface here: every worker would fail the same way again."""
    with _serving(tmp_path, _free_port(), host="192.0.2.1") as proc:
        assert proc.wait(90) == 3
        assert proc.stdout is not None
        assert b"cannot listen" in proc.stdout.read()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("trusted", [True, False])
def test_the_client_address_comes_from_a_trusted_proxy_only(
    tmp_path: Path, workers: int, trusted: bool
) -> None:
    """Sign-in limits count per client address. Behind a proxy named in
    KOPILKA_FORWARDED_ALLOW_IPS that is the address X-Forwarded-For names; otherwise
    the connection's peer, whatever a client claims. Each worker counts apart; the one
    kept-alive connection below stays with one worker."""
    port = _free_port()
    trust = {"forwarded_allow_ips": "127.0.0.1"} if trusted else {}
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    upgrade(url)
    engine = make_engine(url)
    create_program(ServiceContext(engine), program_command("serve-shop"))
    engine.dispose()
    with _serving(tmp_path, port, workers=workers, sign_in_limit="1 per minute", **trust) as proc:
        _ready(proc, port, workers)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:

            def token(page: str) -> str:
                found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
                assert found is not None
                return found[1]

            def attempt(phone: str, claimed: str) -> int:
                """Ask for a code to ``phone`` (nobody's: no message), then type a wrong
                one: a failed sign-in of the client address."""
                headers = {"X-Forwarded-For": claimed}
                data = {"csrf_token": token("/portal/sign-in"), "address": phone}
                sent = client.post("/portal/sign-in", data=data, headers=headers)
                if sent.status_code != 303:
                    return sent.status_code
                data = {"csrf_token": token("/portal/sign-in/code"), "code": "000000"}
                return client.post("/portal/sign-in/code", data=data, headers=headers).status_code

            assert attempt("+79990000001", "10.0.0.1") == 401
            assert attempt("+79990000002", "10.0.0.1") == 429
            assert attempt("+79990000003", "10.0.0.2") == (401 if trusted else 429)
