"""``kopilka points``: earn, redeem, adjust, and a member's history."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from kopilka.cli.actor import Actor, cli_actor
from kopilka.cli.runtime import console, kopilka, print_json
from kopilka.cli.selectors import (
    Card,
    Email,
    External,
    Json,
    MemberId,
    Phone,
    ProgramCode,
    resolve_member,
)
from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.ledger.idempotency import caller_key
from kopilka.services import audit, back_office
from kopilka.services import points as points_svc
from kopilka.services.context import ServiceContext
from kopilka.services.points import Adjust, Earn, LedgerOutcome, Redeem

app = typer.Typer(help="Point movements for one member, and their history.", no_args_is_help=True)

Key = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="Idempotency key, 1-200 printable ASCII characters without spaces (default: a "
        "new UUID); a retry with the same key has no second effect.",
    ),
]
Reference = Annotated[str | None, typer.Option(help="Receipt or order number.")]
Selectors = tuple[int | None, str | None, str | None, str | None, str | None]
# a movement for the member, under the (stored) key
Move = Callable[[ServiceContext, Program, int, str], LedgerOutcome]


def _positive(points: int) -> int:
    if points <= 0:
        raise ValidationError("points must be a positive whole number", field="points")
    return points


def _report(result: LedgerOutcome, key: str, json_out: bool) -> None:
    if json_out:
        print_json({**result, "idempotency_key": key})
        return
    b = result["balance"]
    console().print(
        f"{result['kind']} {result['points']} points, entry {result['entry_id']} "
        f"(key {key})\nbalance: [bold]{b['available']}[/] available, "
        f"{b['pending']} pending, {b['held']} held"
    )


def _move(
    program_code: str, selectors: Selectors, key: str | None, json_out: bool, op: Move
) -> None:
    key = key or str(uuid.uuid4())
    # stored in the callers' namespace, like an API caller's key: a --key can never be
    # the key a receipt, a return or an event is booked under
    stored = caller_key("cli", key)
    with kopilka() as k:
        program, mid = resolve_member(k, program_code, *selectors)
        result = op(k.services, program, mid, stored)
    _report(result, key, json_out)


@app.command()
def earn(
    points: Annotated[int, typer.Argument(help="Whole points to credit.")],
    program_code: ProgramCode,
    member_id: MemberId = None,
    card: Card = None,
    phone: Phone = None,
    email: Email = None,
    external: External = None,
    reason: Annotated[str | None, typer.Option(help="Why the points were given.")] = None,
    reference: Reference = None,
    key: Key = None,
    json_out: Json = False,
) -> None:
    """Credit points (pending first if the program delays activation)."""
    n = _positive(points)
    _move(
        program_code,
        (member_id, card, phone, email, external),
        key,
        json_out,
        lambda ctx, program, mid, k: points_svc.earn(
            ctx, program, Earn(mid, n, key=k, reason=reason, reference=reference)
        ),
    )


@app.command()
def redeem(
    points: Annotated[int, typer.Argument(help="Whole points to spend.")],
    program_code: ProgramCode,
    member_id: MemberId = None,
    card: Card = None,
    phone: Phone = None,
    email: Email = None,
    external: External = None,
    reference: Reference = None,
    key: Key = None,
    json_out: Json = False,
) -> None:
    """Spend available points, soonest-expiring first."""
    n = _positive(points)
    _move(
        program_code,
        (member_id, card, phone, email, external),
        key,
        json_out,
        lambda ctx, program, mid, k: points_svc.redeem(
            ctx, program, Redeem(mid, n, key=k, reference=reference)
        ),
    )


@app.command()
def adjust(
    delta: Annotated[int, typer.Argument(help="Points to add (positive) or deduct (negative).")],
    program_code: ProgramCode,
    reason: Annotated[str, typer.Option(help="Why: kept in the journal, shown to support.")],
    actor: Actor = None,
    member_id: MemberId = None,
    card: Card = None,
    phone: Phone = None,
    email: Email = None,
    external: External = None,
    key: Key = None,
    json_out: Json = False,
) -> None:
    """A manual correction with a reason, audited with who made it (cli:NAME) and the
    balance before and after, as an adjustment through the API or the console.

    Write a negative delta after '--', e.g. kopilka points adjust -p grocery --id 1
    --reason "double credit" --actor anna -- -50
    """
    if delta == 0:
        raise ValidationError("delta must not be zero", field="delta")
    who = cli_actor(actor)
    _move(
        program_code,
        (member_id, card, phone, email, external),
        key,
        json_out,
        lambda ctx, program, mid, k: back_office.adjust(
            ctx, program, Adjust(mid, delta, key=k, reason=reason, actor=who)
        ),
    )


@app.command()
def history(
    program_code: ProgramCode,
    member_id: MemberId = None,
    card: Card = None,
    phone: Phone = None,
    email: Email = None,
    external: External = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Entries per page.")] = 20,
    before: Annotated[
        int | None, typer.Option(help="Show entries older than this entry id.")
    ] = None,
    json_out: Json = False,
) -> None:
    """A member's ledger, newest first, with what each entry did and why."""
    with kopilka() as k:
        program, mid = resolve_member(k, program_code, member_id, card, phone, email, external)
        page = audit.history(k.services, program, mid, limit=limit, before=before)
    if json_out:
        print_json(page)
        return
    table = Table("entry", "when (UTC)", "kind", "avail", "pend", "held", "why")
    for item in page["items"]:
        ch = item["changes"]
        table.add_row(
            str(item["entry_id"]),
            item["occurred_at"][:19].replace("T", " "),
            item["kind"],
            _signed(ch.get("available")),
            _signed(ch.get("pending")),
            _signed(ch.get("held")),
            item["why"],
        )
    console().print(table)
    if page["next_cursor"] is not None:
        console().print(f"more: --before {page['next_cursor']}")


def _signed(n: int | None) -> str:
    return f"{n:+d}" if n else ""
