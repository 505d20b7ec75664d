"""``kopilka serve --workers 2``: the database is migrated once, the parent becomes the
light ``kopilka.api.supervise`` process, and the workers answer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

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


@pytest.mark.skipif(not BIN.exists(), reason="the kopilka command is not installed")
def test_two_workers_behind_a_light_parent(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "KOPILKA_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "KOPILKA_PORT": str(port),
        "KOPILKA_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        [str(BIN), "serve", "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.2)
        if status != 200 and proc.poll() is not None and proc.stdout is not None:
            pytest.fail(proc.stdout.read().decode(errors="replace"))
        assert status == 200
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"kopilka.api.supervise" in cmdline
        assert len(_children(proc.pid)) >= 2
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
