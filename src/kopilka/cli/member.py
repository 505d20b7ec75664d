"""``kopilka member``: enroll, look up, block and unblock members."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

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
from kopilka.domain.member import Member
from kopilka.ledger.model import Balance
from kopilka.logging import get_logger
from kopilka.services import back_office
from kopilka.services import members as member_svc
from kopilka.services import programs as program_svc
from kopilka.services.back_office import SetBlocked
from kopilka.services.balance_view import BalanceView, balance_view

app = typer.Typer(help="Members: add, show, block, unblock.", no_args_is_help=True)


def member_dict(m: Member, balance: Balance | BalanceView | None = None) -> dict[str, Any]:
    """A member as plain data. The operator's console shows identifiers unmasked."""
    out: dict[str, Any] = {
        "id": m.id,
        "status": str(m.status),
        "blocked_reason": m.blocked_reason,
        "first_name": m.first_name,
        "last_name": m.last_name,
        "birthday": m.birthday.isoformat() if m.birthday else None,
        "gender": m.gender,
        "tier": m.tier_code,
        "enrolled_at": m.enrolled_at.isoformat(),
        "referral_code": m.referral_code,
        "identifiers": m.identifiers,
        "lifetime_spend_minor": m.lifetime_spend_minor,
        "purchase_count": m.purchase_count,
        "erased_at": m.erased_at.isoformat() if m.erased_at else None,
    }
    if balance is not None:
        out["balance"] = {
            "available": balance.available,
            "pending": balance.pending,
            "held": balance.held,
        }
    return out


def _print(m: Member, balance: Balance | BalanceView | None) -> None:
    data = member_dict(m, balance)
    table = Table(title=f"member {m.id}", show_header=False)
    for key, value in data.items():
        if key in ("identifiers", "balance") or value is None:
            continue
        table.add_row(key, str(value))
    for kind, values in m.identifiers.items():
        table.add_row(kind, ", ".join(values))
    if balance is not None:
        table.add_row(
            "balance",
            f"[bold]{balance.available}[/] available, {balance.pending} pending, "
            f"{balance.held} held",
        )
    console().print(table)


def _consent(raw: str) -> member_svc.ConsentChoice:
    purpose, _, answer = raw.partition("=")
    if answer.lower() not in ("", "yes", "no", "true", "false"):
        raise ValidationError(f"consent {raw!r}: write PURPOSE or PURPOSE=yes|no", field="consent")
    return member_svc.ConsentChoice(purpose, granted=answer.lower() not in ("no", "false"))


def _birthday(raw: str | None) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError("birthday must be a date (YYYY-MM-DD)", field="birthday") from None


@app.command()
def add(
    program_code: ProgramCode,
    card: Annotated[
        list[str] | None, typer.Option("--card", help="Card number (repeatable).")
    ] = None,
    phone: Annotated[list[str] | None, typer.Option("--phone", help="Phone (repeatable).")] = None,
    email: Annotated[list[str] | None, typer.Option("--email", help="Email (repeatable).")] = None,
    external: Annotated[
        list[str] | None, typer.Option("--external", help="External id (repeatable).")
    ] = None,
    first_name: Annotated[str | None, typer.Option(help="First name.")] = None,
    last_name: Annotated[str | None, typer.Option(help="Last name.")] = None,
    birthday: Annotated[str | None, typer.Option(help="Birthday, YYYY-MM-DD.")] = None,
    gender: Annotated[str | None, typer.Option(help="Gender, free text.")] = None,
    consent: Annotated[
        list[str] | None,
        typer.Option(
            "--consent",
            help="Consent PURPOSE or PURPOSE=yes|no, e.g. marketing_email (repeatable).",
        ),
    ] = None,
    channel: Annotated[
        str, typer.Option(help="Where the member enrolled: till, web, support...")
    ] = "support",
    json_out: Json = False,
) -> None:
    """Enroll a member with at least one identifier."""
    pairs = [
        (kind, value)
        for kind, values in (
            ("card", card),
            ("phone", phone),
            ("email", email),
            ("external", external),
        )
        for value in values or []
    ]
    command = member_svc.Enroll(
        identifiers=member_svc.identifiers(pairs),
        profile=member_svc.Profile(
            first_name=first_name,
            last_name=last_name,
            birthday=_birthday(birthday),
            gender=gender,
        ),
        consents=tuple(_consent(c) for c in consent or []),
        channel=channel,
    )
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        m = member_svc.enroll(k.services, program, command)
        balance = member_svc.get_balance(k.services, program, m.id)
    if json_out:
        print_json(member_dict(m, balance))
    else:
        console().print(f"enrolled member [bold]{m.id}[/] in {program.code}")
        _print(m, balance)


@app.command()
def show(
    program_code: ProgramCode,
    member_id: MemberId = None,
    card: Card = None,
    phone: Phone = None,
    email: Email = None,
    external: External = None,
    json_out: Json = False,
) -> None:
    """Show a member's profile, identifiers, status and balances."""
    with kopilka() as k:
        program, mid = resolve_member(k, program_code, member_id, card, phone, email, external)
        m = member_svc.get_member(k.services, program, mid)
        balance = balance_view(k.services, program, mid)  # as of now, as the portal shows it
    if json_out:
        print_json(member_dict(m, balance))
    else:
        _print(m, balance)


def _set_blocked(
    program_code: str,
    blocked: bool,
    reason: str | None,
    selectors: tuple[int | None, str | None, str | None, str | None, str | None],
    json_out: bool,
    actor: str | None,
) -> None:
    who = cli_actor(actor)
    with kopilka() as k:
        program, mid = resolve_member(k, program_code, *selectors)
        # audited with the status before and after, as a block through the API or console
        back_office.set_blocked(
            k.services,
            program,
            SetBlocked(mid, blocked, reason, key=f"cli:{uuid.uuid4()}", actor=who),
            answer=lambda _inner: {"member_id": mid, "blocked": blocked},
        )
        m = member_svc.get_member(k.services, program, mid)
    # the service keeps the reason only for a block; the log keeps it for both
    get_logger("kopilka.cli").info(
        "member status changed", member_id=m.id, status=str(m.status), reason=reason
    )
    if json_out:
        print_json(member_dict(m))
    else:
        console().print(f"member {m.id} is now [bold]{m.status}[/]")


@app.command()
def block(
    program_code: ProgramCode,
    reason: Annotated[str, typer.Option(help="Why (kept with the member).")],
    member_id: MemberId = None,
    card: Card = None,
    phone: Phone = None,
    email: Email = None,
    external: External = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Block a member: no earning, no spending. Audited."""
    selectors = (member_id, card, phone, email, external)
    _set_blocked(program_code, True, reason, selectors, json_out, actor)


@app.command()
def unblock(
    program_code: ProgramCode,
    reason: Annotated[str | None, typer.Option(help="Why (logged for the record).")] = None,
    member_id: MemberId = None,
    card: Card = None,
    phone: Phone = None,
    email: Email = None,
    external: External = None,
    json_out: Json = False,
    actor: Actor = None,
) -> None:
    """Unblock a member. Audited."""
    selectors = (member_id, card, phone, email, external)
    _set_blocked(program_code, False, reason, selectors, json_out, actor)
