"""``kopilka rewards``: load a partner's coupon codes from CSV, list and cancel issued
rewards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kopilka.cli.actor import Actor, cli_actor
from kopilka.cli.progress import progress_bar
from kopilka.cli.runtime import console, kopilka, print_json
from kopilka.cli.selectors import Json, ProgramCode
from kopilka.domain.errors import ValidationError
from kopilka.domain.rewards import IssuedStatus, parse_pool_csv
from kopilka.services import programs as program_svc
from kopilka.services import rewards as rewards_svc
from kopilka.services.rewards import CancelIssued, IssuedQuery, LoadPool
from kopilka.services.rewards.views import PoolLoaded

app = typer.Typer(help="Rewards: partner code pools and issued rewards.", no_args_is_help=True)
issued_app = typer.Typer(help="Rewards issued to members.", no_args_is_help=True)
app.add_typer(issued_app, name="issued")

BATCH = 1000
MAX_FILE = 50 * 1024 * 1024


@app.command("pool-load")
def pool_load(
    program_code: ProgramCode,
    reward: Annotated[str, typer.Option("--reward", help="The partner reward's code.")],
    file: Annotated[Path, typer.Argument(help="CSV: one code per row, first column.")],
    actor: Actor = None,
    json_out: Json = False,
) -> None:
    """Add a partner's codes to a reward's pool; codes it has already are counted as
    duplicates. The whole file is checked before anything is written."""
    if not file.is_file():
        raise ValidationError(f"{file} is not a file", field="file")
    if file.stat().st_size > MAX_FILE:
        raise ValidationError("the file is larger than 50 MB", field="file")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("the file is not UTF-8 text", field="file") from None
    codes = parse_pool_csv(text)
    who = cli_actor(actor)
    total: PoolLoaded = {"added": 0, "duplicates": 0, "free": 0}
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        found = rewards_svc.reward_by_code(k.services, program, reward)
        with progress_bar(f"loading codes into {reward}", len(codes)) as advance:
            for start in range(0, len(codes), BATCH):
                batch = codes[start : start + BATCH]
                done = rewards_svc.load_pool(k.services, program, LoadPool(found.id, batch, who))
                total = {
                    "added": total["added"] + done["added"],
                    "duplicates": total["duplicates"] + done["duplicates"],
                    "free": done["free"],
                }
                advance(len(batch))
    if json_out:
        print_json(total)
        return
    console().print(
        f"reward {reward}: [bold]{total['added']:,}[/] codes added, "
        f"{total['duplicates']:,} duplicates skipped, {total['free']:,} free in the pool"
    )


@issued_app.command("list")
def issued_list(
    program_code: ProgramCode,
    member: Annotated[int | None, typer.Option("--member", help="Member id.")] = None,
    status: Annotated[IssuedStatus | None, typer.Option("--status")] = None,
    code: Annotated[str | None, typer.Option("--code", help="The code's beginning.")] = None,
    reward: Annotated[str | None, typer.Option("--reward", help="The reward's code.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 50,
    json_out: Json = False,
) -> None:
    """Issued rewards, newest first."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        reward_id = rewards_svc.reward_by_code(k.services, program, reward).id if reward else None
        query = IssuedQuery(member, reward_id, status, code, None, limit)
        rows = rewards_svc.issued_page(k.services, program, query)
    if json_out:
        print_json(rows)
        return
    for r in rows:
        console().print(
            f"{r['id']:>6}  {r['display_code']:<16} {r['reward_code']:<16} member {r['member_id']}"
            f"  {r['status']:<9} {r['points']:>6} pts  expires {r['expires_at'] or '-'}"
        )
    if not rows:
        console().print("no issued rewards")


@issued_app.command("cancel")
def issued_cancel(
    program_code: ProgramCode,
    issued_id: Annotated[int, typer.Argument(help="The issued reward's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in its history).")],
    actor: Actor = None,
    json_out: Json = False,
) -> None:
    """Cancel an unused issued reward; its points come back if the program's settings say
    so. Running it again answers the same."""
    if not reason.strip() or len(reason) > 500:
        raise ValidationError("--reason must be 1-500 characters", field="reason")
    who = cli_actor(actor)
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        ended = rewards_svc.cancel_issued(
            k.services,
            program,
            CancelIssued(
                issued_id, key=f"cli-cancel-{issued_id}", actor=who, reason=reason.strip()
            ),
        )
    if json_out:
        print_json(ended)
        return
    refund = f", {ended['refunded']:,} points back" if ended["refunded"] else ", no refund"
    console().print(f"issued reward {issued_id} cancelled{refund}")
