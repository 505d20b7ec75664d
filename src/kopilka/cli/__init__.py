"""The ``kopilka`` command line: the operator's console.

One module per command group; this module only assembles them. Expected failures are
reported once, by :class:`kopilka.cli.errors.KopilkaGroup`, as ``error[<code>]: ...``.
"""

from __future__ import annotations

import typer

from kopilka.cli import (
    accruals,
    analytics,
    apikey,
    db,
    demo,
    importer,
    jobs,
    member,
    notifications,
    points,
    program,
    reminders,
    rewards,
    rules,
    serve,
    tiers,
    verify,
    webhooks,
    worker,
)
from kopilka.cli.errors import KopilkaGroup

app = typer.Typer(
    name="kopilka",
    cls=KopilkaGroup,
    help="Kopilka loyalty points: programs, members, the points ledger and its jobs.\n\n"
    "Settings come from KOPILKA_* environment variables (or .env), e.g. "
    "KOPILKA_DATABASE_URL; the default is SQLite under ./data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(program.app, name="program")
app.add_typer(member.app, name="member")
app.add_typer(points.app, name="points")
app.add_typer(apikey.app, name="apikey")
app.add_typer(importer.app, name="import")
app.add_typer(worker.app, name="jobs")
app.add_typer(accruals.app, name="accruals")
app.add_typer(rules.app, name="rules")
app.add_typer(reminders.app, name="reminders")
app.add_typer(tiers.app, name="tiers")
app.add_typer(rewards.app, name="rewards")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(notifications.app, name="notifications")
app.add_typer(analytics.app, name="analytics")
app.command(rich_help_panel="Jobs")(jobs.expire)
app.command(rich_help_panel="Jobs")(jobs.activate)
app.command(rich_help_panel="Jobs")(verify.verify)
app.command(rich_help_panel="Run")(serve.serve)
app.command(rich_help_panel="Run")(worker.worker)
app.command(rich_help_panel="Run")(demo.demo)


def main() -> None:
    """Entry point of the ``kopilka`` script."""
    app()
