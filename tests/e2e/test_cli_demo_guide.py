"""What ``kopilka demo`` tells a newcomer: every command it prints works exactly as printed
and is safe to run, and a port already taken stops ``demo --serve`` before anything else
happens (the previous demo keys stay valid)."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.e2e.test_cli import Cli, cli_on

LEDGER = ("journal_entries", "postings", "lots", "lot_draws", "holds", "member_balances")


@pytest.fixture
def demo_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """A CLI on an empty SQLite file: the demo migrates it itself."""
    with cli_on(tmp_path, monkeypatch) as cli:
        yield cli


def _printed(out: str) -> list[str]:
    return [line.strip().removeprefix("$ ") for line in out.splitlines() if "  $ " in line]


def _keys(out: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+(pos|admin): (kp_\S+)$", out, re.MULTILINE))


def _ledger(cli: Cli) -> dict[str, list[tuple[object, ...]]]:
    return {t: sorted(tuple(r) for r in cli.sql(f"SELECT * FROM {t}")) for t in LEDGER}


def test_printed_kopilka_commands_work_as_printed_and_write_nothing(
    demo_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each printed ``kopilka`` line, run by a shell as it stands in a newcomer's shell
    after ``make demo`` (the venv not activated, so ``kopilka`` is not on PATH and the
    script is named by its path), exits 0; none changes the ledger (the expiry line is a
    dry run)."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    out = demo_cli.ok("demo", "--members", "5").stdout
    commands = [c for c in _printed(out) if not c.startswith("curl")]
    assert len(commands) == 6, commands
    assert any("expire" in c and "--dry-run" in c for c in commands)
    assert not any("expire" in c and "--dry-run" not in c for c in commands)
    serve = commands.pop()
    program = shlex.split(serve)[0]
    assert program.endswith("/kopilka")
    assert Path(program).exists()
    assert shlex.split(serve)[1:] == ["serve"]
    before = _ledger(demo_cli)
    for command in commands:
        assert command.startswith(program + " ")
        done = subprocess.run(
            ["/bin/sh", "-c", command],
            check=False,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert "lots that would expire" in done.stdout
    assert _ledger(demo_cli) == before


def test_printed_curl_commands_answer_on_the_demo_data(demo_cli: Cli) -> None:
    """The printed ``curl`` lines (lookup, balance, quote, purchase), replayed against the
    API application on the demo database, succeed; the purchase replays under its key."""
    from kopilka.api.app import create_app
    from kopilka.app import build
    from kopilka.settings import load_settings

    out = demo_cli.ok("demo", "--members", "5").stdout
    curls = [shlex.split(c) for c in _printed(out) if c.startswith("curl")]
    assert len(curls) == 4
    app = build(load_settings())
    try:
        client = TestClient(create_app(app))
        for argv in [*curls, curls[-1]]:
            method, headers, body, url = "GET", {}, None, ""
            words = iter(argv[1:])
            for word in words:
                if word == "-X":
                    method = next(words)
                elif word == "-H":
                    name, value = next(words).split(": ", 1)
                    headers[name] = value
                elif word == "-d":
                    body = next(words)
                else:
                    url = word
            assert url.startswith("http://127.0.0.1:8000/"), url
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            answer = client.request(method, path, headers=headers, content=body)
            assert answer.status_code in (200, 201), (argv, answer.text)
    finally:
        app.close()


def test_demo_on_a_taken_port_fails_at_once_and_keeps_the_previous_keys(demo_cli: Cli) -> None:
    """With its port taken, ``demo --serve`` stops before touching anything: a clear error
    naming ``--port`` (and a free port to try), no new keys, and the keys the previous run
    printed still sign in."""
    from kopilka.api.app import create_app
    from kopilka.app import build
    from kopilka.settings import load_settings

    first = demo_cli.ok("demo", "--members", "5").stdout
    keys = _keys(first)
    assert set(keys) == {"pos", "admin"}
    count = demo_cli.count("api_keys")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        started = time.monotonic()
        refused = demo_cli("demo", "--members", "5", "--serve", "--port", str(port))
        took = time.monotonic() - started
    assert refused.exit_code == 1
    assert f"error[port_in_use]: 127.0.0.1:{port} is already in use" in refused.stderr
    assert re.search(r"kopilka demo --serve --port \d+ \(make demo PORT=\d+\)", refused.stderr)
    assert "make demo PORT=" in refused.stderr
    assert "demo data in" not in refused.stdout  # nothing was built or migrated
    assert "Errno" not in refused.stdout + refused.stderr
    assert took < 5
    assert demo_cli.count("api_keys") == count
    app = build(load_settings())
    try:
        client = TestClient(create_app(app))
        for secret in keys.values():
            me = client.get("/v1/me", headers={"Authorization": f"Bearer {secret}"})
            assert me.status_code == 200, me.text
    finally:
        app.close()


def test_serve_on_a_taken_port_fails_before_migrating(demo_cli: Cli) -> None:
    """``kopilka serve`` on a taken port says so and how to choose another, and leaves the
    database alone (it used to migrate first, then fail with uvicorn's bare errno)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        refused = demo_cli("serve", "--port", str(port))
    assert refused.exit_code == 1
    assert "error[port_in_use]" in refused.stderr
    assert "kopilka serve --port" in refused.stderr
    assert not Path(demo_cli.url.removeprefix("sqlite:///")).exists()
