"""``kopilka expire`` and ``kopilka activate``: the time-driven sweeps, run by hand or cron."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import typer

from kopilka.cli.actor import Actor, cli_actor
from kopilka.cli.progress import progress_bar
from kopilka.cli.runtime import console, kopilka, parse_instant, print_json
from kopilka.cli.selectors import Json, ProgramCode
from kopilka.services import back_office
from kopilka.services import jobs as jobs_svc
from kopilka.services import programs as program_svc

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="Run as of this ISO 8601 instant (default: now); no offset means UTC."
    ),
]


Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=16,
        help="Expiry transactions run at once on PostgreSQL, each for its own share of the"
        " members (default 2; SQLite always runs one).",
    ),
]


DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Only report what is due (holds, activations, expiries), writing nothing.",
    ),
]

WOULD = {
    "expire_holds": "holds that would time out",
    "activate_due": "lots that would be activated",
    "expire_due": "lots that would expire",
}


def _dry_run(program_code: str, as_of: str | None, json_out: bool) -> None:
    at = parse_instant(as_of)
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        when: datetime = at or k.services.now()
        due = jobs_svc.due(k.services, program, when)
    if json_out:
        print_json(
            {
                "program": program.code,
                "as_of": when.isoformat(),
                "dry_run": True,
                **{name: d.count for name, d in due.items()},
                "points": {name: d.points for name, d in due.items()},
                "members": {name: d.members for name, d in due.items()},
            }
        )
        return
    console().print(f"program {program.code}, as of {when.isoformat()} (dry run: nothing written):")
    for name, d in due.items():
        console().print(
            f"  {WOULD[name]}: [bold]{d.count:,}[/] ({d.points:,} points,"
            f" {d.members:,} member{'' if d.members == 1 else 's'})"
        )
    if due["expire_holds"].count:
        console().print(
            "  (points that timed-out holds give back and that are due as well expire too)"
        )


# the output's names of the sweeps (kept as they were) -> the audit log's job names
JOBS = {"expire_holds": "expire-holds", "activate_due": "activate", "expire_due": "expire"}


def _sweeps(
    program_code: str,
    as_of: str | None,
    names: tuple[str, ...],
    json_out: bool,
    workers: int | None = None,
    actor: str | None = None,
) -> None:
    at = parse_instant(as_of)
    who = cli_actor(actor)
    counts: dict[str, int] = {}
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        when: datetime = at or k.services.now()
        for name in names:
            with progress_bar(name.replace("_", " ")) as advance:
                # each sweep audited as job.<name>, as when the API runs it
                done = back_office.run_job(
                    k.services,
                    program,
                    JOBS[name],
                    when,
                    key=f"cli:{uuid.uuid4()}",
                    actor=who,
                    progress=advance,
                    workers=workers,
                )
                counts[name] = int(done["handled"])
    if json_out:
        print_json({"program": program.code, "as_of": when.isoformat(), **counts})
        return
    console().print(f"program {program.code}, as of {when.isoformat()}:")
    labels = {
        "expire_holds": "holds timed out",
        "activate_due": "lots activated",
        "expire_due": "lots expired",
    }
    for name, count in counts.items():
        console().print(f"  {labels[name]}: [bold]{count}[/]")


def expire(
    program_code: ProgramCode,
    as_of: AsOf = None,
    json_out: Json = False,
    workers: Workers = None,
    dry_run: DryRun = False,
    actor: Actor = None,
) -> None:
    """End timed-out holds, activate due points, then expire due lots to breakage.
    Each sweep is audited (job.expire-holds, job.activate, job.expire).

    With --dry-run, only report what is due as of --as-of, writing nothing."""
    if dry_run:
        _dry_run(program_code, as_of, json_out)
        return
    # activation first: points that became spendable before they expire are expired as
    # available, the same order a member operation settles in
    _sweeps(
        program_code,
        as_of,
        ("expire_holds", "activate_due", "expire_due"),
        json_out,
        workers,
        actor,
    )


def activate(
    program_code: ProgramCode,
    as_of: AsOf = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """End timed-out holds and make pending points whose time has come available.
    Each sweep is audited (job.expire-holds, job.activate)."""
    _sweeps(program_code, as_of, ("expire_holds", "activate_due"), json_out, actor=actor)
