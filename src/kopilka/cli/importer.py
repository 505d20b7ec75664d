"""``kopilka import members|purchases FILE``: bulk import from CSV or Parquet.

The column formats are in :mod:`kopilka.services.imports.rows`; how batches,
checkpoints and bad rows work is in :mod:`kopilka.services.imports.purchases`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kopilka.cli.progress import progress_bar
from kopilka.cli.runtime import console, kopilka, print_json
from kopilka.cli.selectors import Json, ProgramCode
from kopilka.services import programs as program_svc
from kopilka.services.imports import (
    BATCH,
    ImportReport,
    import_members,
    import_purchases,
    open_source,
)

app = typer.Typer(
    help="Import members or purchases from CSV or Parquet (resumable; re-running is safe).",
    no_args_is_help=True,
)

File = Annotated[
    Path,
    typer.Argument(help="A .csv or .parquet file.", exists=True, dir_okay=False, readable=True),
]
OnErrorOpt = Annotated[
    str,
    typer.Option(
        "--on-error",
        help="skip: import the good rows and list the bad ones in the rejects file; "
        "reject: import nothing if any row is bad.",
    ),
]
BatchOpt = Annotated[int, typer.Option("--batch", min=1, help="Rows per transaction.")]
RejectsOpt = Annotated[
    Path | None,
    typer.Option("--rejects", help="Where to list bad rows (default: FILE.rejects.csv)."),
]
JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs",
        min=1,
        help="Processes booking purchases side by side, split by member (PostgreSQL; "
        "not with campaign budgets). An interrupted import resumes with the jobs it began with.",
    ),
]
FormatOpt = Annotated[
    str | None, typer.Option("--format", help="csv or parquet (default: from the file name).")
]


def _run(kind: str, program_code: str, path: Path, json_out: bool, **options: object) -> None:
    runner = import_members if kind == "members" else import_purchases
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        source = open_source(path, options.get("fmt"))  # type: ignore[arg-type]
        with progress_bar(f"importing {kind}", source.total_rows) as advance:
            report = runner(k.services, program, path, progress=advance, **options)  # type: ignore[arg-type]
    if json_out:
        print_json(report.to_dict())
    else:
        _print(report)


def _print(r: ImportReport) -> None:
    out = console()
    if r.status == "already_done":
        out.print(f"{r.file} was imported before: nothing to do")
    elif r.resumed_from_row:
        out.print(f"resumed {r.file} after row {r.resumed_from_row:,}")
    if r.jobs > 1:
        out.print(f"booked by {r.jobs} processes, split by member")
    rate = f" ({r.imported / r.seconds:,.0f}/s)" if r.seconds and r.imported else ""
    out.print(
        f"{r.kind}: [bold]{r.imported:,}[/] imported{rate}, {r.already:,} already there, "
        f"{r.rejected:,} rejected, from {r.rows:,} rows in {r.seconds:,.1f}s"
    )
    if r.kind == "purchases":
        out.print(f"points earned {r.points_earned:,}, redeemed {r.points_redeemed:,}")
    if r.rejected and r.rejects_file:
        out.print(f"[yellow]bad rows are listed in {r.rejects_file}[/]")
        for e in r.first_errors[:5]:
            where = "line" if "line" in e and r.format == "csv" else "row"
            out.print(f"  {where} {e['line']}: {e['key']} {e['code']}: {e['message']}")


@app.command("members")
def members(
    path: File,
    program_code: ProgramCode,
    on_error: OnErrorOpt = "skip",
    batch: BatchOpt = BATCH,
    rejects: RejectsOpt = None,
    fmt: FormatOpt = None,
    json_out: Json = False,
) -> None:
    """Enroll members from a file; rows whose identifiers exist already are left alone."""
    _run(
        "members",
        program_code,
        path,
        json_out,
        fmt=fmt,
        on_error=on_error,
        batch_size=batch,
        rejects_path=rejects,
    )


@app.command("purchases")
def purchases(
    path: File,
    program_code: ProgramCode,
    on_error: OnErrorOpt = "skip",
    batch: BatchOpt = BATCH,
    rejects: RejectsOpt = None,
    fmt: FormatOpt = None,
    jobs: JobsOpt = 1,
    json_out: Json = False,
) -> None:
    """Book purchases (one row per line) with points under the rules in force at their time."""
    _run(
        "purchases",
        program_code,
        path,
        json_out,
        fmt=fmt,
        on_error=on_error,
        batch_size=batch,
        rejects_path=rejects,
        jobs=jobs,
    )
