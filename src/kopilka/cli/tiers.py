"""``kopilka tiers``: review members' tiers as of a time, and recompute them after a rules
change or an import."""

from __future__ import annotations

from typing import Annotated

import typer

from kopilka.cli.progress import progress_bar
from kopilka.cli.runtime import console, kopilka, parse_instant, print_json
from kopilka.cli.selectors import Json, ProgramCode
from kopilka.services import programs as program_svc
from kopilka.services import tiers as tiers_svc
from kopilka.services.tiers import ReviewReport

app = typer.Typer(help="Members' tiers: reviews and recomputation.", no_args_is_help=True)

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Review as of this ISO 8601 instant (default: now); no offset means UTC. A "
        "calendar window's review judges the period that ended at or before it; with "
        "anniversary reviews only members whose anniversary of reaching their tier has come "
        "by then (or who are in grace) are judged, the others may only rise.",
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Only report what the review would change.")
]


def _report(report: ReviewReport, json_out: bool) -> None:
    if json_out:
        print_json(report)
        return
    note = " (dry run: nothing written)" if report["dry_run"] else ""
    console().print(
        f"program {report['program']}, as of {report['as_of']}{note}: "
        f"{report['members']:,} members, [bold]{report['upgraded']:,}[/] up, "
        f"[bold]{report['downgraded']:,}[/] down, {report['entered_grace']:,} entered grace, "
        f"{report['unchanged']:,} unchanged"
    )
    for change in report["changes"][:20]:
        console().print(
            f"  member {change['member_id']}: {change['from_tier'] or '-'} -> "
            f"{change['to_tier'] or '-'}"
        )
    if len(report["changes"]) > 20:
        console().print(f"  ... and {len(report['changes']) - 20:,} more (--json lists them)")


@app.command()
def review(
    program_code: ProgramCode,
    as_of: AsOf = None,
    dry_run: DryRun = False,
    json_out: Json = False,
) -> None:
    """Review every member's tier: keep, lose (by the program's downgrade mode) or gain."""
    at = parse_instant(as_of)
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        when = at or k.services.now()
        total = tiers_svc.count_members(k.services, program)
        with progress_bar("reviewing tiers", total) as advance:
            report = tiers_svc.review_tiers(k.services, program, when, dry_run, tick=advance)
    _report(report, json_out)


@app.command()
def recompute(program_code: ProgramCode, json_out: Json = False) -> None:
    """Recompute earned tiers from the stored purchases (after a rules change or an import):
    members rise to what they qualify for; losing a tier waits for a review."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        total = tiers_svc.count_members(k.services, program)
        with progress_bar("recomputing tiers", total) as advance:
            report = tiers_svc.recompute_tiers(k.services, program, tick=advance)
    _report(report, json_out)
