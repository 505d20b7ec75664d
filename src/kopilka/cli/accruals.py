"""``kopilka accruals``: schedule points for a list of members, booked by the worker."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from kopilka.cli.actor import Actor, cli_actor
from kopilka.cli.runtime import console, kopilka, parse_instant, print_json
from kopilka.cli.selectors import Json, ProgramCode
from kopilka.domain.errors import ValidationError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.services import programs as program_svc
from kopilka.services import worker as worker_svc
from kopilka.services.member_lookup import MemberRef

app = typer.Typer(
    help="Scheduled accruals: points for a list of members at a set time (the worker books"
    " them, each member once).",
    no_args_is_help=True,
)

MAX_FILE = 20_000_000  # bytes: 100,000 cards fit many times over


def _cards(path: Path) -> list[MemberRef]:
    """The cards of a CSV file, one per row in its first column (a first row ``card`` is a
    header)."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise ValidationError(f"{path} is larger than {MAX_FILE:,} bytes", field="cards")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ValidationError(f"cannot read {path}: {type(e).__name__}", field="cards") from None
    refs: list[MemberRef] = []
    for n, row in enumerate(csv.reader(text.splitlines()), start=1):
        value = row[0].strip() if row else ""
        if n == 1 and value.lower() == "card":
            continue
        if value:
            refs.append(MemberRef(identifier=(IdentifierKind.CARD, value)))
    return refs


@app.command("schedule")
def schedule(
    program_code: ProgramCode,
    points: Annotated[int, typer.Option(min=1, max=10**9, help="Points for each member.")],
    reason: Annotated[str, typer.Option(help="Why (shown in each member's history).")],
    at: Annotated[
        str,
        typer.Option(
            "--at", help="When, ISO 8601, e.g. 2027-03-01T00:00:00+03:00 (no offset: UTC)."
        ),
    ],
    member: Annotated[
        list[int] | None, typer.Option("--member", help="A member id; repeatable.")
    ] = None,
    cards: Annotated[
        Path | None,
        typer.Option("--cards", help="A CSV file with a card number in each row's first column."),
    ] = None,
    actor: Actor = None,
    json_out: Json = False,
) -> None:
    """Schedule POINTS for each member named (--member, --cards) at --at. Every member is
    looked up now: an unknown one refuses the whole schedule, and nothing is written."""
    run_at = parse_instant(at, "at")
    assert run_at is not None
    refs = [MemberRef(member_id=m) for m in member or ()]
    if cards is not None:
        refs += _cards(cards)
    if not refs:
        raise ValidationError("name the members with --member or --cards", field="members")
    who = cli_actor(actor)
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        done = worker_svc.schedule_accrual(
            k.services,
            program,
            worker_svc.ScheduleAccrual(tuple(refs), points, reason, run_at, who),
        )
    if json_out:
        print_json(done)
        return
    console().print(
        f"scheduled accrual {done['id']}: {done['points']:,} points to"
        f" {done['members']:,} member{'' if done['members'] == 1 else 's'} at {done['run_at']}"
        " (kopilka worker books it)"
    )


@app.command("list")
def list_accruals(
    program_code: ProgramCode,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many.")] = 50,
    json_out: Json = False,
) -> None:
    """The program's scheduled accruals, newest first."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        rows = worker_svc.list_accruals(k.services, program, limit)
    if json_out:
        print_json(rows)
        return
    if not rows:
        console().print(f"no scheduled accruals in {program.code}")
        return
    table = Table(title=f"scheduled accruals of {program.code}")
    for col in ("id", "points", "members", "at", "status", "reason", "by", "counts"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            f"{r['points']:,}",
            f"{r['members']:,}",
            r["run_at"],
            r["status"],
            escape(r["reason"]),
            escape(r["created_by"]),
            ", ".join(f"{k} {v}" for k, v in r["counts"].items()),
        )
    console().print(table)


@app.command("cancel")
def cancel(
    program_code: ProgramCode,
    accrual_id: Annotated[int, typer.Argument(metavar="ID", help="The accrual's id.", min=1)],
    json_out: Json = False,
) -> None:
    """Cancel a scheduled accrual that has not run (a running one stops before its next
    batch of members)."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        done = worker_svc.cancel_accrual(k.services, program, accrual_id)
    if json_out:
        print_json(done)
        return
    console().print(f"scheduled accrual {done['id']} cancelled")
