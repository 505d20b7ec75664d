"""``kopilka demo``: a grocery program with 18 months of member history, then (optionally)
the server.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kopilka.cli.db import safe_url
from kopilka.cli.errors import EXIT_VIOLATIONS, fail
from kopilka.cli.progress import progress_bar
from kopilka.cli.runtime import console, settings
from kopilka.demo import DemoConfig, DemoResult, build_demo


def _reset(url: str) -> None:
    if not url.startswith("sqlite:///"):
        fail("validation_error", "--reset only recreates a SQLite database; drop others yourself")
    path = Path(url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


# a free port to suggest replaces {port}; `make demo` passes PORT on as --port
PORT_HINT = "choose another port: {kopilka} demo --serve --port {port} (make demo PORT={port})"


def kopilka_command() -> str:
    """How to run this ``kopilka`` as typed in the shell the demo runs in: ``kopilka`` when
    that is on PATH and is this one, else the script's path (``.venv/bin/kopilka`` after
    ``make demo``, whose virtualenv is not activated)."""
    script = Path(sys.executable).parent / "kopilka"  # pip puts the script beside python
    if not script.exists():
        return "kopilka"
    found = shutil.which("kopilka")
    if found and Path(found).resolve() == script.resolve():
        return "kopilka"
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        return shlex.quote(str(script))
    return shlex.quote(shown if os.sep in shown else f".{os.sep}{shown}")


def _guide(result: DemoResult, host: str, port: int, serving: bool) -> None:
    out = console()
    kopilka = kopilka_command()
    p = result.program
    someone = next((x for x in result.people if x.email), result.people[0])
    stats = Table("what happened", "count", title=f"demo program {p.code}: {p.name}")
    for name, count in sorted(result.stats.items()):
        stats.add_row(name, f"{count:,}")
    out.print(stats)
    for line in result.summaries:
        out.print(f"  • {line}")
    if result.report:
        t = result.report.totals
        out.print(
            f"liability [bold]{t.get('liability', 0):,}[/] points "
            f"({t.get('available', 0):,} available, {t.get('pending', 0):,} pending), "
            f"breakage {t.get('breakage', 0):,}, redeemed {t.get('redeemed', 0):,}"
        )
    base = f"http://{host}:{port}"
    serve = f"{kopilka} serve" + ("" if port == settings().port else f" --port {port}")
    # every command here reads, or writes only what is safe to repeat on demo data
    where = "in another terminal, in this directory" if serving else "in this directory"
    out.print(f"\n[bold]Look around[/] ({where})")
    for cmd in (
        f"{kopilka} member show -p {p.code} --card {shlex.quote(someone.card)}",
        f"{kopilka} points history -p {p.code} --card {shlex.quote(someone.card)}",
        f"{kopilka} verify",
        f"{kopilka} jobs list --program {p.code}   # what the jobs worker ran",
        f"{kopilka} expire -p {p.code} --as-of 2030-01-01 --dry-run   # what would expire by then",
        *(() if serving else (serve,)),
    ):
        out.print(f"  $ {cmd}", markup=False)
    out.print(f"\n[bold]Start here[/]: {base}/")
    when = "" if serving else f" (after {serve})"
    out.print(f"[bold]Admin console[/]{when}: {base}/admin — sign in with the admin key")
    out.print(
        "  new here: rewards catalog and issued rewards (/admin/rewards), personal offers"
        " (/admin/offers), notifications: templates and settings (/admin/notifications),"
        f" a member's tier ({base}/admin/members/{someone.member_id}/tier) and the messages"
        " sent to them (on their card)",
        markup=False,
    )
    out.print(
        f"[bold]Member portal[/]: {base}/portal — sign in with"
        f" {someone.email or someone.phone} and a one-time code; then rewards"
        " (/portal/rewards) and my coupons (/portal/coupons); the home"
        " page shows the tier, the personal offer to activate and favourite categories"
    )
    # not a "$ " line: the guide's commands are the ones safe to run on the demo as printed
    py = str(Path(sys.executable)) if "venv" in sys.executable else "python"
    out.print(
        "  the code goes by e-mail: the development adapter (log) only logs that it was sent."
        " To read it, run an SMTP sink in another terminal (it comes with the test tools,"
        f" make test installs them), {py} -m aiosmtpd -n -l 127.0.0.1:1025, and start the"
        " demo with KOPILKA_EMAIL_ADAPTER=smtp KOPILKA_SMTP_PORT=1025: the sink prints the code",
        markup=False,
    )
    out.print(f"[bold]HTTP API[/]: {base}/docs, {base}/redoc and {base}/openapi.json")
    till = result.api_keys.get("pos", "$KOPILKA_API_KEY")
    card = someone.card
    basket = (
        f'{{"member": {{"card": "{card}"}}, "lines": [{{"line_id": "1", "sku": "DAI-001", '
        '"quantity": "2", "amount": "189.80", "category": "dairy"}]}'
    )
    for line in (
        f'curl -H "Authorization: Bearer {till}" "{base}/v1/members/lookup?kind=card&value={card}"',
        f'curl -H "Authorization: Bearer {till}" {base}/v1/members/{someone.member_id}/balance',
        f'curl -X POST -H "Authorization: Bearer {till}" -H "Content-Type: application/json" '
        f"-d '{basket}' {base}/v1/purchases/quote",
        f'curl -X POST -H "Authorization: Bearer {till}" -H "Idempotency-Key: demo-try-1" '
        f'-H "Content-Type: application/json" '
        f'-d \'{{"receipt_id": "TRY-1", {basket[1:]}\' {base}/v1/purchases',
    ):
        out.print(f"  $ {line}", markup=False)
    if result.api_keys:
        out.print(f"API keys (shown only now; {kopilka} apikey create makes more):")
        for role, secret in result.api_keys.items():
            out.print(f"  {role}: {secret}", markup=False)
    elif "$" in till:
        out.print(
            f"  (make a key with: {kopilka} apikey create --program grocery --role admin ...)"
        )
    if serving:
        out.print(
            f"\nServing {base}/ now, with a jobs worker beside it (kopilka worker: expiries,"
            " scheduled accruals, the ledger's verification and the overview's totals);"
            " Ctrl+C stops both, and"
            f" {serve} starts the server again."
        )


def demo(
    serve: Annotated[bool, typer.Option("--serve", help="Start the HTTP server afterwards.")] = (
        False
    ),
    members: Annotated[int, typer.Option(min=1, max=100_000, help="How many demo members.")] = 300,
    reset: Annotated[
        bool, typer.Option("--reset", help="Recreate the SQLite database first.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same data.")] = (
        20260314
    ),
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="TCP port to serve on (KOPILKA_PORT, default 8000)."),
    ] = None,
) -> None:
    """Create (idempotently) a demo grocery program with realistic history, verify it."""
    from kopilka.app import build, upgrade_database
    from kopilka.cli.serve import check_port
    from kopilka.domain.clock import FrozenClock, SystemClock

    s = settings()
    port = port or s.port
    hint = PORT_HINT.replace("{kopilka}", kopilka_command())
    if serve:
        # first of all: a taken port must not cost the previous demo keys (every run
        # revokes them and makes new ones) before the server fails to start
        check_port(s.host, port, hint, any_problem=True)
    url = s.effective_database_url
    if reset:
        _reset(url)
    upgrade_database(url)
    console().print(f"demo data in {safe_url(url)}")
    clock = FrozenClock(SystemClock().now())
    # demo data is rebuilt at will: trade fsync on every commit for speed
    app = build(s.model_copy(update={"sqlite_synchronous": "NORMAL"}), clock=clock)
    try:
        result = build_demo(
            app, clock, DemoConfig(members=members, seed=seed), progress=progress_bar
        )
    finally:
        app.close()
    _guide(result, s.host, port, serve)
    if result.report is not None and not result.report.ok:
        fail("ledger_violation", "the demo ledger does not verify", EXIT_VIOLATIONS)
    if serve:
        from kopilka.cli.serve import run_server

        # the jobs worker beside the server (sweeps, scheduled accruals): a child process
        # that stops with the server (SIGTERM) and by itself if the server dies
        worker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from kopilka.cli import main; main()",
                "worker",
                "--exit-with-parent",
            ]
        )
        try:
            run_server(port=port, port_hint=hint)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
