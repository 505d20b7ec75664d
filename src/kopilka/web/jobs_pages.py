"""The console's jobs page: the program's job schedules and the worker's latest runs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from kopilka.services import worker as worker_svc
from kopilka.services.apikeys import Permission
from kopilka.web.console import Console
from kopilka.web.i18n import N_, tr
from kopilka.web.render import WebRoute

RUNS_SHOWN = 50

# the words of the job kinds, of how a run ended and of each kind's counts (a kind or a
# count without words shows its code; tests/unit/test_jobs_words.py keeps every registered
# kind and count named)
JOBS = {
    "sweep": N_("Sweep: hold timeouts, activations, expiries"),
    "accruals": N_("Scheduled accruals"),
    "verify": N_("Ledger verification, report stored"),
    "totals": N_("Overview totals snapshot"),
    "outbox": N_("Event delivery to webhooks and NATS"),
    "tiers": N_("Tier review"),
    "messages": N_("Members' messages sent"),
    "expiry_reminder": N_("Reminders of expiring points"),
    "winback": N_("Win-back messages"),
    "birthday_greeting": N_("Birthday greetings"),
    "tier_drop": N_("Warnings of a tier about to drop"),
    "rewards": N_("Issued rewards past their expiry"),
    "analytics": N_("Analytics rollups and the budget cap"),
    "birthday_bonus": N_("Birthday bonuses"),
}
# the reminders' counts (services/reminders.py ReminderCounts), the same for the four
REMINDER_COUNTS = {
    "due": N_("reminders due"),
    "recorded": N_("messages queued"),
    "suppressed": N_("not sent (consent, cap, switched off)"),
    "repeated": N_("sent before"),
}
OUTCOMES = {
    "running": N_("running"),
    "ok": N_("done"),
    "failed": N_("failed"),
    "interrupted": N_("interrupted"),
    "abandoned": N_("abandoned"),
}
# by job kind: one count name may mean different things in two kinds ("failed")
COUNTS = {
    "sweep": {
        "holds_timed_out": N_("holds timed out"),
        "lots_activated": N_("lots activated"),
        "lots_expired": N_("lots expired"),
    },
    "accruals": {
        "accruals": N_("accruals"),
        "credited": N_("members credited"),
        "refused": N_("refused"),
    },
    "verify": {"checks": N_("checks"), "failed": N_("checks failed")},
    "totals": {"members": N_("members"), "entries": N_("journal entries")},
    "outbox": {
        "dispatched": N_("events dispatched"),
        "delivered": N_("deliveries made"),
        "failed": N_("deliveries failed"),
        "dead": N_("dead letters"),
    },
    "analytics": {
        "entries": N_("journal entries added"),
        "purchases": N_("purchases added"),
        "days": N_("days recomputed"),
        "alerts": N_("budget alerts written"),
    },
    "tiers": {
        "reviewed": N_("members reviewed"),
        "upgraded": N_("tiers raised"),
        "downgraded": N_("tiers lowered"),
        "entered_grace": N_("entered grace"),
        "unchanged": N_("unchanged"),
    },
    "messages": {
        "sent": N_("messages sent"),
        "retried": N_("attempts to retry"),
        "failed": N_("messages failed"),
    },
    "expiry_reminder": REMINDER_COUNTS,
    "winback": REMINDER_COUNTS,
    "birthday_greeting": REMINDER_COUNTS,
    "tier_drop": REMINDER_COUNTS,
    "rewards": {
        "expired": N_("rewards expired"),
        "points_refunded": N_("points refunded"),
    },
    "birthday_bonus": {
        "credited": N_("members credited"),
        "skipped": N_("members skipped"),
        "points": N_("points credited"),
    },
}


def _word(words: dict[str, str], code: str) -> str:
    """The word of ``code`` in the page's language (the code itself when it has none)."""
    message = words.get(code)
    return str(tr(message)) if message else code


def jobs_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    @router.get("/jobs")
    def jobs(request: Request) -> Response:
        op = console.operator(request)
        op.require(Permission.JOBS_READ)
        schedules = worker_svc.list_schedules(ctx, op.program)
        runs = worker_svc.list_runs(ctx, op.program, RUNS_SHOWN)
        return console.page(
            op,
            "admin_jobs.html",
            schedules=[{**s, "what": _word(JOBS, s["job"])} for s in schedules],
            runs=[
                {
                    **r,
                    "what": _word(JOBS, r["job"]),
                    "how": _word(OUTCOMES, r["outcome"]),
                    "figures": [
                        (_word(COUNTS.get(r["job"], {}), k), v) for k, v in r["counts"].items()
                    ],
                }
                for r in runs
            ],
            nav="jobs",
        )

    return router
