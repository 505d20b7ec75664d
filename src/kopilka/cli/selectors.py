"""Options shared by several commands: the program, the member, ``--json``."""

from __future__ import annotations

from typing import Annotated

import typer

from kopilka.app import Kopilka
from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.services import members as member_svc
from kopilka.services import programs as program_svc

ProgramCode = Annotated[str, typer.Option("--program", "-p", help="Program code or id.")]
MemberId = Annotated[int | None, typer.Option("--id", help="Member id.")]
Card = Annotated[str | None, typer.Option("--card", help="Find the member by card number.")]
Phone = Annotated[str | None, typer.Option("--phone", help="Find the member by phone.")]
Email = Annotated[str | None, typer.Option("--email", help="Find the member by email.")]
External = Annotated[str | None, typer.Option("--external", help="Find the member by external id.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def resolve_member(
    k: Kopilka,
    program_code: str,
    member_id: int | None,
    card: str | None,
    phone: str | None,
    email: str | None,
    external: str | None,
) -> tuple[Program, int]:
    """The program and the id of the one member named by exactly one selector."""
    given = {
        kind: value
        for kind, value in (
            ("card", card),
            ("phone", phone),
            ("email", email),
            ("external", external),
        )
        if value is not None
    }
    if (member_id is not None) + len(given) != 1:
        raise ValidationError(
            "name the member with exactly one of --id, --card, --phone, --email, --external",
            field="member",
        )
    program = program_svc.get_program(k.services, program_code)
    if member_id is not None:
        return program, member_svc.get_member(k.services, program, member_id).id
    ((kind, value),) = given.items()
    return program, member_svc.lookup(k.services, program, kind, value).id
