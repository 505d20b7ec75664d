"""``kopilka program``: create and inspect loyalty programs."""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from kopilka.cli.actor import Actor, cli_actor
from kopilka.cli.runtime import console, kopilka, print_json
from kopilka.cli.selectors import Json
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.domain.money import Rounding, format_money, parse_money
from kopilka.domain.portal import PortalSettings
from kopilka.domain.program import ExpiryFrom, NegativeBalancePolicy, Program, RestorePolicy
from kopilka.services import portal_settings as portal_svc
from kopilka.services import programs as program_svc

app = typer.Typer(
    help="Loyalty programs: create, show, list, set the restore policy, the approval of rules,"
    " what expiry counts from and whether visitors may join in the portal.",
    no_args_is_help=True,
)


def program_dict(p: Program) -> dict[str, Any]:
    """A program as plain data, for JSON output and tables."""
    return {
        "id": p.id,
        "code": p.code,
        "name": p.name,
        "currency": p.currency,
        "point_value": format_money(p.point_value_minor, p.currency),
        "point_value_minor": p.point_value_minor,
        "rounding": str(p.rounding),
        "timezone": p.timezone,
        "expiry": p.expiry.describe(),
        "expiry_kind": str(p.expiry.kind),
        "expiry_n": p.expiry.n,
        "activation_delay_days": p.activation_delay.total_seconds() / 86400,
        "negative_balance": str(p.negative_balance),
        "restore_policy": str(p.restore_policy),
        "hold_ttl_seconds": int(p.hold_ttl.total_seconds()),
        "rules_approval": p.rules_approval,
        "expiry_from": str(p.expiry_from),
    }


def _print(p: Program) -> None:
    table = Table(title=f"program {p.code}", show_header=False)
    for key, value in program_dict(p).items():
        table.add_row(key, str(value))
    console().print(table)


@app.command()
def create(
    code: Annotated[str, typer.Option(help="Unique code: letters, digits, '-' or '_'.")],
    name: Annotated[str, typer.Option(help="Display name (default: the code).")] = "",
    currency: Annotated[str, typer.Option(help="ISO 4217 currency code.")] = "RUB",
    point_value: Annotated[
        str, typer.Option(help="Money value of one point, e.g. 1 or 0.50.")
    ] = "1",
    rounding: Annotated[Rounding, typer.Option(help="How fractional points round.")] = (
        Rounding.DOWN
    ),
    timezone: Annotated[str, typer.Option(help="IANA time zone for calendar rules.")] = "UTC",
    expiry_kind: Annotated[ExpiryKind, typer.Option(help="When earned points expire.")] = (
        ExpiryKind.NEVER
    ),
    expiry_n: Annotated[int, typer.Option(help="Days, months or years for the expiry kind.")] = 0,
    activation_delay_days: Annotated[
        float, typer.Option(help="Days before earned points can be spent.")
    ] = 0,
    negative_balance: Annotated[
        NegativeBalancePolicy, typer.Option(help="What a return does to points already spent.")
    ] = NegativeBalancePolicy.FORGIVE,
    restore_policy: Annotated[
        RestorePolicy,
        typer.Option(
            help="Spent points a return gives back after their lot expired: expire (they "
            "expire at once: points come back only while still valid) or reissue (a fresh "
            "lot from the return)."
        ),
    ] = RestorePolicy.EXPIRE,
    hold_ttl_seconds: Annotated[int, typer.Option(help="How long a till hold lives.")] = 900,
    expiry_from: Annotated[
        ExpiryFrom,
        typer.Option(
            help="What the expiry period counts from: earning, or activation (after the "
            "activation delay)."
        ),
    ] = ExpiryFrom.EARNING,
    json_out: Json = False,
) -> None:
    """Create a program."""
    command = program_svc.CreateProgram(
        code=code,
        name=name or code,
        currency=currency,
        point_value_minor=parse_money(point_value, currency, field="point_value"),
        rounding=rounding,
        timezone=timezone,
        expiry=ExpiryPolicy(expiry_kind, expiry_n),
        activation_delay=timedelta(days=activation_delay_days),
        negative_balance=negative_balance,
        restore_policy=restore_policy,
        hold_ttl=timedelta(seconds=hold_ttl_seconds),
        expiry_from=expiry_from,
    )
    with kopilka() as k:
        p = program_svc.create_program(k.services, command)
    if json_out:
        print_json(program_dict(p))
    else:
        console().print(f"created program [bold]{p.code}[/] (id {p.id})")
        _print(p)


@app.command()
def show(
    code: Annotated[str, typer.Argument(help="Program code or id.")],
    json_out: Json = False,
) -> None:
    """Show one program's settings."""
    with kopilka() as k:
        p = program_svc.get_program(k.services, code)
    if json_out:
        print_json(program_dict(p))
    else:
        _print(p)


@app.command("set-restore-policy")
def set_restore_policy(
    code: Annotated[str, typer.Argument(help="Program code or id.")],
    policy: Annotated[
        RestorePolicy,
        typer.Argument(
            help="expire: spent points come back on a return only while still valid; "
            "reissue: in a fresh lot."
        ),
    ],
    json_out: Json = False,
) -> None:
    """Change what returns do with spent points whose lot has expired (from now on)."""
    with kopilka() as k:
        p = program_svc.set_restore_policy(k.services, program_svc.SetRestorePolicy(code, policy))
    if json_out:
        print_json(program_dict(p))
    else:
        console().print(f"program [bold]{p.code}[/]: restore policy {p.restore_policy}")


class Switch(enum.StrEnum):
    ON = "on"
    OFF = "off"


@app.command("set-rules-approval")
def set_rules_approval(
    code: Annotated[str, typer.Argument(help="Program code or id.")],
    state: Annotated[
        Switch,
        typer.Argument(
            help="on: a marketer's publication of rules is a proposal an admin approves "
            "in the console; off: marketers publish directly (the default)."
        ),
    ],
    json_out: Json = False,
) -> None:
    """Switch whether marketers' rule publications need an admin's approval."""
    command = program_svc.SetRulesApproval(code, state is Switch.ON)
    with kopilka() as k:
        p = program_svc.set_rules_approval(k.services, command)
    if json_out:
        print_json(program_dict(p))
    else:
        word = "on" if p.rules_approval else "off"
        console().print(f"program [bold]{p.code}[/]: approval of rules {word}")


@app.command("set-expiry-from")
def set_expiry_from(
    code: Annotated[str, typer.Argument(help="Program code or id.")],
    expiry_from: Annotated[
        ExpiryFrom,
        typer.Argument(
            help="earning: the expiry period counts from the earning; activation: from "
            "when the points become spendable (after the activation delay)."
        ),
    ],
    json_out: Json = False,
) -> None:
    """Change what the expiry of points earned from now on counts from."""
    with kopilka() as k:
        p = program_svc.set_expiry_from(k.services, program_svc.SetExpiryFrom(code, expiry_from))
    if json_out:
        print_json(program_dict(p))
    else:
        console().print(f"program [bold]{p.code}[/]: expiry counts from {p.expiry_from}")


@app.command("set-self-enrolment")
def set_self_enrolment(
    code: Annotated[str, typer.Argument(help="Program code or id.")],
    state: Annotated[
        Switch,
        typer.Argument(
            help="on: visitors may join the program in the portal (/portal/join), with a "
            "phone or e-mail confirmed by a one-time code; off: they may not (the default)."
        ),
    ],
    actor: Actor = None,
    json_out: Json = False,
) -> None:
    """Switch whether visitors may join the program on their own in the portal."""
    settings = PortalSettings(self_enrolment=state is Switch.ON)
    with kopilka() as k:
        p = program_svc.get_program(k.services, code)
        command = portal_svc.SetPortalSettings(settings, cli_actor(actor))
        done = portal_svc.set_portal_settings(k.services, p, command)
    if json_out:
        print_json(done.to_json())
    else:
        word = "on" if done.self_enrolment else "off"
        console().print(f"program [bold]{p.code}[/]: self-enrolment in the portal {word}")


@app.command("list")
def list_(json_out: Json = False) -> None:
    """List all programs."""
    with kopilka() as k:
        programs = program_svc.list_programs(k.services)
    if json_out:
        print_json([program_dict(p) for p in programs])
        return
    table = Table("id", "code", "name", "currency", "point value", "expiry", "activation")
    for p in programs:
        d = program_dict(p)
        table.add_row(
            str(p.id),
            p.code,
            p.name,
            p.currency,
            d["point_value"],
            f"{p.expiry.kind} {p.expiry.n}" if p.expiry.n else str(p.expiry.kind),
            f"{d['activation_delay_days']:g} days",
        )
    console().print(table)
