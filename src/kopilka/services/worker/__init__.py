"""The jobs worker: every program's scheduled jobs, run with leases and recorded.

- ``registry``: job kinds by name (adding one is one ``register`` call), and what a job
  gets to run (:class:`JobRun`);
- ``kinds``: the kinds every worker runs: the sweep and the scheduled accruals;
- ``accruals``: scheduling, listing and cancelling accruals, and their job;
- ``schedules``: the schedules (program settings) and the record of runs;
- ``runner``: claims, leases and the worker's loop; ``single``: SQLite's one worker.
"""

from __future__ import annotations

from kopilka.services.worker.accruals import (
    ScheduleAccrual,
    ScheduledAccrual,
    accrual_key,
    cancel_accrual,
    list_accruals,
    schedule_accrual,
)
from kopilka.services.worker.registry import (
    REGISTRY,
    JobKind,
    JobRun,
    RunStopped,
    job_kind,
    register,
)
from kopilka.services.worker.runner import (
    Claimed,
    RunReport,
    Worker,
    WorkerOptions,
    WorkerSummary,
    claim,
    default_worker_id,
    execute,
)
from kopilka.services.worker.schedules import (
    JobRunView,
    JobSchedule,
    SetSchedule,
    ensure_schedules,
    list_runs,
    list_schedules,
    run_counts,
    set_schedule,
)
from kopilka.services.worker.single import WorkerRefused

__all__ = [
    "REGISTRY",
    "Claimed",
    "JobKind",
    "JobRun",
    "JobRunView",
    "JobSchedule",
    "RunReport",
    "RunStopped",
    "ScheduleAccrual",
    "ScheduledAccrual",
    "SetSchedule",
    "Worker",
    "WorkerOptions",
    "WorkerRefused",
    "WorkerSummary",
    "accrual_key",
    "cancel_accrual",
    "claim",
    "default_worker_id",
    "ensure_schedules",
    "execute",
    "job_kind",
    "list_accruals",
    "list_runs",
    "list_schedules",
    "register",
    "run_counts",
    "schedule_accrual",
    "set_schedule",
]
