"""``kopilka worker`` (runs every program's scheduled jobs) and ``kopilka jobs`` (their
schedules and the record of their runs)."""

from __future__ import annotations

import os
import signal
import threading
from datetime import date, timedelta
from types import FrameType
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from kopilka.cli.runtime import console, kopilka, print_json
from kopilka.cli.selectors import Json, ProgramCode
from kopilka.domain.errors import ValidationError
from kopilka.domain.jobs import check_cron
from kopilka.logging import get_logger
from kopilka.services import birthday_bonus as birthday_svc
from kopilka.services import programs as program_svc
from kopilka.services import worker as worker_svc

app = typer.Typer(
    help="The worker's jobs: their schedules (cron, per program) and their runs.",
    no_args_is_help=True,
)


class LogObserver:
    """Structured log lines at a run's start and end (job, program, counts: nothing
    personal)."""

    def __init__(self) -> None:
        self.log = get_logger("kopilka.worker")

    def started(self, claimed: worker_svc.Claimed) -> None:
        self.log.info(
            "job_run_started",
            run_id=claimed["run_id"],
            job=claimed["job"],
            program_id=claimed["program_id"],
            scheduled_for=claimed["scheduled_for"].isoformat(),
            took_over=claimed["took_over"],
        )

    def ended(self, report: worker_svc.RunReport) -> None:
        self.log.info(
            "job_run_ended",
            run_id=report["run_id"],
            job=report["job"],
            program_id=report["program_id"],
            outcome=report["outcome"],
            counts=report["counts"],
            error=report["error"],
        )


def _parent_watch(stop: threading.Event, parent: int) -> None:
    """Stop the worker when the process that started it is gone (the demo server)."""
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()


def _serve(
    stop: threading.Event,
    once: bool,
    poll: float,
    lease: float,
    program: list[str] | None,
    job: list[str] | None,
    exit_with_parent: bool,
) -> worker_svc.WorkerSummary:
    if exit_with_parent:
        watch = threading.Thread(
            target=_parent_watch, args=(stop, os.getppid()), daemon=True, name="kopilka-parent"
        )
        watch.start()
    for name in job or ():
        worker_svc.job_kind(name)
    log = get_logger("kopilka.worker")
    with kopilka() as k:
        ctx = k.services
        ids = tuple(program_svc.get_program(ctx, p).id for p in program) if program else None
        options = worker_svc.WorkerOptions(
            lease=timedelta(seconds=lease),
            poll_seconds=poll,
            once=once,
            program_ids=ids,
            jobs=tuple(job) if job else None,
        )
        log.info("worker_started", worker_id=options.worker_id, once=once)
        summary = worker_svc.Worker(ctx, options, stop=stop, observer=LogObserver()).run()
        log.info("worker_stopped", worker_id=summary["worker_id"], runs=summary["runs"])
    return summary


def worker(
    once: Annotated[
        bool,
        typer.Option("--once", help="Run what is due now, then exit (for cron and tests)."),
    ] = False,
    poll: Annotated[
        float,
        typer.Option(min=0.05, max=3600, help="Seconds to wait when nothing is due."),
    ] = 5.0,
    lease: Annotated[
        float,
        typer.Option(
            min=1,
            max=86400,
            help="Seconds a claimed run is this worker's (renewed between batches); a"
            " crashed worker's jobs are taken over when it expires.",
        ),
    ] = 120.0,
    program: Annotated[
        list[str] | None,
        typer.Option("--program", "-p", help="Only this program (code or id); repeatable."),
    ] = None,
    job: Annotated[
        list[str] | None, typer.Option("--job", help="Only this job kind; repeatable.")
    ] = None,
    exit_with_parent: Annotated[
        bool,
        typer.Option("--exit-with-parent", hidden=True, help="Stop when the parent exits."),
    ] = False,
) -> None:
    """Run every scheduled job of every program: the sweep (hold timeouts, activations,
    expiries) and scheduled accruals, on each program's schedules (kopilka jobs
    schedule). Many workers may run against PostgreSQL; SQLite takes one.
    SIGTERM or Ctrl+C: the current batch finishes, then the worker exits."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        summary = _serve(stop, once, poll, lease, program, job, exit_with_parent)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    runs = ", ".join(f"{n} {o}" for o, n in sorted(summary["runs"].items())) or "no runs"
    console().print(f"worker {summary['worker_id']} stopped: {runs}")


@app.command("schedule")
def schedule(
    program_code: Annotated[str, typer.Argument(metavar="CODE", help="Program code or id.")],
    job: Annotated[str, typer.Argument(help="Job kind: sweep, accruals, ...")],
    cron: Annotated[
        str,
        typer.Argument(
            help="Cron expression, read in the program's time zone, e.g. '*/5 * * * *'."
        ),
    ],
    json_out: Json = False,
) -> None:
    """Set when a program's job runs (a cron expression in the program's time zone)."""
    # checked here, before the database is opened: a bad expression writes nothing
    cron = check_cron(cron)
    worker_svc.job_kind(job)
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        row = worker_svc.set_schedule(k.services, program, worker_svc.SetSchedule(job, cron))
    if json_out:
        print_json({"program": program.code, **row})
        return
    console().print(
        f"program {program.code}: {job} runs at [bold]{row['cron']}[/] ({program.timezone}),"
        f" next at {row['next_run_at'].isoformat()}"
    )


@app.command("schedules")
def schedules(
    program_code: Annotated[str, typer.Argument(metavar="CODE", help="Program code or id.")],
    json_out: Json = False,
) -> None:
    """A program's job schedules: cron, next run, who runs it now."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        rows = worker_svc.list_schedules(k.services, program)
    if json_out:
        print_json([{"program": program.code, **r} for r in rows])
        return
    table = Table(title=f"job schedules of {program.code} ({program.timezone})")
    for col in ("job", "cron", "next run (UTC)", "running by"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["job"],
            r["cron"],
            r["next_run_at"].isoformat(timespec="seconds"),
            r["running_by"] or "",
        )
    console().print(table)


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


@app.command("list")
def list_runs(
    program_code: Annotated[
        str | None, typer.Option("--program", "-p", help="Only this program (code or id).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many runs.")] = 20,
    json_out: Json = False,
) -> None:
    """The latest job runs, newest first: job, program, when, outcome, counts, error."""
    with kopilka() as k:
        ctx = k.services
        program = program_svc.get_program(ctx, program_code) if program_code else None
        runs = worker_svc.list_runs(ctx, program, limit)
        codes = {p.id: p.code for p in program_svc.list_programs(ctx)}
    if json_out:
        print_json([{"program": codes.get(r["program_id"]), **r} for r in runs])
        return
    if not runs:
        console().print("no job runs yet (start one with: kopilka worker)")
        return
    table = Table(title="job runs, newest first")
    for col in ("id", "job", "program", "scheduled for", "started", "ended", "outcome", "counts"):
        table.add_column(col)
    for r in runs:
        style = {"failed": "red", "abandoned": "yellow", "interrupted": "yellow"}.get(
            r["outcome"], ""
        )
        outcome = f"[{style}]{r['outcome']}[/]" if style else r["outcome"]
        if r["error"]:
            outcome += f"\n{escape(r['error'])}"
        table.add_row(
            str(r["id"]),
            r["job"],
            codes.get(r["program_id"], str(r["program_id"])),
            r["scheduled_for"].isoformat(timespec="seconds"),
            r["started_at"].isoformat(timespec="seconds"),
            r["ended_at"].isoformat(timespec="seconds") if r["ended_at"] else "",
            outcome,
            _counts(r["counts"]),
        )
    console().print(table)


@app.command("birthday-bonus")
def birthday_bonus(
    program_code: ProgramCode,
    day: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="The local day (YYYY-MM-DD, the program's time zone) whose birthdays to"
            " credit (default: today there); a day missed by the worker, say.",
        ),
    ] = None,
    json_out: Json = False,
) -> None:
    """Credit now the birthday bonus of a day, as the birthday_bonus job does at 00:05
    (members credited that year already are skipped)."""
    try:
        on = date.fromisoformat(day) if day is not None else None
    except ValueError:
        raise ValidationError(
            "date must be a day, YYYY-MM-DD (e.g. 2026-03-20)", field="date"
        ) from None
    with kopilka() as k:
        ctx = k.services
        program = program_svc.get_program(ctx, program_code)
        report = birthday_svc.credit_birthdays(ctx, program, ctx.now(), day=on)
    if json_out:
        print_json({"program": program.code, **report, "day": report["day"].isoformat()})
        return
    console().print(
        f"program {program.code}, birthdays of {report['day'].isoformat()}: credited"
        f" [bold]{report['credited']}[/] ({report['points']:,} points), skipped"
        f" [bold]{report['skipped']}[/]"
    )
