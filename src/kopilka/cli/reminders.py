"""``kopilka reminders``: a program's reminder settings (docs/reminders.md): which of the
four reminders are on, and their parameters. Every value is checked (nothing is written
when one is wrong) and the change is audited."""

from __future__ import annotations

from typing import Annotated

import typer

from kopilka.cli.actor import Actor, cli_actor
from kopilka.cli.runtime import console, kopilka, print_json
from kopilka.cli.selectors import Json, ProgramCode
from kopilka.domain.reminders import ReminderSettings
from kopilka.services import programs as program_svc
from kopilka.services import reminders as reminder_svc

app = typer.Typer(
    help="Reminders: expiry, win-back, birthday and tier-drop messages (docs/reminders.md).",
    no_args_is_help=True,
)


def _show(settings: ReminderSettings, json_out: bool) -> None:
    if json_out:
        print_json(settings.to_json())
        return

    def on(flag: bool) -> str:
        return "on" if flag else "off"

    days = ", ".join(str(d) for d in settings.expiry_days)
    out = console()
    out.print(f"expiry reminders: {on(settings.expiry)} ({days} days before)")
    out.print(f"win-back: {on(settings.win_back)} (after {settings.win_back_days} days)")
    out.print(f"birthday greetings: {on(settings.birthday)}")
    out.print(
        f"tier drop warnings: {on(settings.tier_drop)} ({settings.tier_drop_days} days before)"
    )


@app.command("show")
def show(program_code: ProgramCode, json_out: Json = False) -> None:
    """The program's reminder settings."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        settings = reminder_svc.reminder_settings(k.services, program)
    _show(settings, json_out)


@app.command("set")
def set_(
    program_code: ProgramCode,
    expiry: Annotated[
        bool | None, typer.Option("--expiry/--no-expiry", help="Expiry reminders on or off.")
    ] = None,
    expiry_days: Annotated[
        str | None,
        typer.Option(help="Days before the points expire, e.g. 30,7,1 (1-5 of 1-366)."),
    ] = None,
    win_back: Annotated[
        bool | None, typer.Option("--win-back/--no-win-back", help="Win-back on or off.")
    ] = None,
    win_back_days: Annotated[
        int | None, typer.Option(help="Days without a purchase (1-3650).")
    ] = None,
    birthday: Annotated[
        bool | None,
        typer.Option("--birthday/--no-birthday", help="Birthday greetings on or off."),
    ] = None,
    tier_drop: Annotated[
        bool | None,
        typer.Option("--tier-drop/--no-tier-drop", help="Tier drop warnings on or off."),
    ] = None,
    tier_drop_days: Annotated[
        int | None, typer.Option(help="Days before the tier window's end (1-366).")
    ] = None,
    actor: Actor = None,
    json_out: Json = False,
) -> None:
    """Change some of the settings; what is not given stays as it is."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        data = reminder_svc.reminder_settings(k.services, program).to_json()
        parts = {name: dict(value) for name, value in data.items() if isinstance(value, dict)}
        changes: list[tuple[str, str, object]] = [
            ("expiry", "enabled", expiry),
            ("expiry", "days_before", expiry_days),
            ("win_back", "enabled", win_back),
            ("win_back", "days", win_back_days),
            ("birthday", "enabled", birthday),
            ("tier_drop", "enabled", tier_drop),
            ("tier_drop", "days_before", tier_drop_days),
        ]
        for part, name, value in changes:
            if value is not None:
                parts[part][name] = value
        settings = ReminderSettings.from_json(dict(parts))  # ValidationError: nothing written
        reminder_svc.set_reminder_settings(
            k.services, program, reminder_svc.SetReminders(settings, cli_actor(actor))
        )
    _show(settings, json_out)
