"""``kopilka webhooks``: a program's webhook subscriptions, their delivery log, and
redelivery of one event or of a time range (the worker's ``outbox`` job sends)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from kopilka.cli.runtime import console, kopilka, parse_instant, print_json
from kopilka.cli.selectors import Json, ProgramCode
from kopilka.services import programs as program_svc
from kopilka.services import webhooks as webhook_svc

app = typer.Typer(
    help="Webhook subscriptions: a program's events POSTed to a URL, signed per Standard"
    " Webhooks (docs/events.md).",
    no_args_is_help=True,
)

SubscriptionId = Annotated[
    int, typer.Argument(metavar="ID", help="The subscription's id (kopilka webhooks list).", min=1)
]


@app.command("add")
def add(
    program_code: ProgramCode,
    url: Annotated[str, typer.Argument(help="Where to POST the events (http:// or https://).")],
    event_type: Annotated[
        list[str] | None,
        typer.Option("--type", help="An event type to send (repeatable; none: every type)."),
    ] = None,
    json_out: Json = False,
) -> None:
    """Subscribe URL to the program's events. The signing secret is shown once: give it
    to the receiver, which verifies each request's webhook-signature with it."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        added = webhook_svc.add_subscription(
            k.services, program, webhook_svc.AddSubscription(url, tuple(event_type or ()))
        )
    if json_out:
        print_json(added)
        return
    types = ", ".join(added["event_types"]) or "every type"
    console().print(f"webhook {added['id']}: {escape(added['url'])} ({types})")
    console().print(f"secret (shown once): {added['secret']}")


@app.command("list")
def list_(program_code: ProgramCode, json_out: Json = False) -> None:
    """The program's subscriptions (without their secrets)."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        subs = webhook_svc.list_subscriptions(k.services, program)
    if json_out:
        print_json(subs)
        return
    if not subs:
        console().print(f"no webhooks in {program.code}")
        return
    table = Table(title=f"webhooks of {program.code}")
    for col in ("id", "url", "types", "since"):
        table.add_column(col)
    for s in subs:
        table.add_row(
            str(s["id"]), escape(s["url"]), ", ".join(s["event_types"]) or "all", s["created_at"]
        )
    console().print(table)


@app.command("remove")
def remove(program_code: ProgramCode, subscription_id: SubscriptionId) -> None:
    """Stop sending to a subscription (its delivery log stays)."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        webhook_svc.remove_subscription(k.services, program, subscription_id)
    console().print(f"webhook {subscription_id} removed")


@app.command("redeliver")
def redeliver(
    program_code: ProgramCode,
    subscription_id: SubscriptionId,
    event: Annotated[str | None, typer.Option("--event", help="One event's id.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Events created from (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="... up to, not including (ISO 8601).")
    ] = None,
) -> None:
    """Send again one event (--event) or the events created in a time range (--since,
    --until); the worker's next outbox run sends them, with their ids."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        n = webhook_svc.redeliver(
            k.services,
            program,
            subscription_id,
            event_id=event,
            since=parse_instant(since, "since"),
            until=parse_instant(until, "until"),
        )
    console().print(f"{n} deliver{'y' if n == 1 else 'ies'} due again")


@app.command("log")
def log(
    program_code: ProgramCode,
    subscription_id: SubscriptionId,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many.")] = 50,
    json_out: Json = False,
) -> None:
    """The subscription's delivery log, newest first: each attempt's status and error."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        rows = webhook_svc.delivery_log(k.services, program, subscription_id, limit)
    if json_out:
        print_json(rows)
        return
    table = Table(title=f"deliveries of webhook {subscription_id}")
    for col in ("event", "attempt", "at", "status", "error", "ms"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["event_id"],
            str(r["attempt"]),
            r["at"],
            str(r["status_code"] or ""),
            escape(r["error"] or ""),
            str(r["duration_ms"]),
        )
    console().print(table)
