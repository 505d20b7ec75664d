"""The console's reminder settings, ``/admin/notifications/reminders`` (docs/reminders.md):
each reminder's switch and parameters (expiry reminders' days before, such as "30, 7, 1";
win-back's days without a purchase; the tier drop warning's days before the window's end),
a link to each reminder's templates, and a save that goes through the same domain
validation and audited service as ``kopilka reminders set``. Reading needs
``program:read``; changing, ``notifications:edit``, as the other notification settings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.messages import Message
from kopilka.domain.notifications import LANGUAGES
from kopilka.domain.reminders import (
    MAX_DAYS,
    MAX_OFFSETS,
    MAX_WIN_BACK_DAYS,
    ReminderKind,
    ReminderSettings,
)
from kopilka.services import reminders as reminder_svc
from kopilka.services.apikeys import Permission
from kopilka.web.console import Console
from kopilka.web.i18n import N_, tr
from kopilka.web.notification_pages import LANGUAGE_WORDS, TOPIC_WORDS, word
from kopilka.web.render import Form, WebRoute, problem_text, redirect, service_message, status_of

# the form's parameter fields: the name the domain's errors give them, and their label
FIELD_WORDS = {
    "expiry_days": N_("Days before the points expire"),
    "win_back_days": N_("Days without a purchase"),
    "tier_drop_days": N_("Days before the tier window ends"),
}


def settings_from_form(form: Any) -> ReminderSettings:
    """The settings the form describes, read by the same domain validation as the CLI's
    (``ReminderSettings.from_json``): a switch is a ticked box, the days are the text as
    typed. ValidationError naming the field that is wrong; nothing is kept of a bad form."""

    def on(name: str) -> bool:
        return bool(form.get(name) == "on")

    def text(name: str) -> str:
        return str(form.get(name, "")).strip()

    return ReminderSettings.from_json(
        {
            "expiry": {"enabled": on("expiry"), "days_before": text("expiry_days")},
            "win_back": {"enabled": on("win_back"), "days": text("win_back_days")},
            "birthday": {"enabled": on("birthday")},
            "tier_drop": {"enabled": on("tier_drop"), "days_before": text("tier_drop_days")},
        }
    )


def field_error(error: KopilkaError) -> str:
    """A domain error about one field in the page's language, the field named by its label
    (the domain names it by its code, ``expiry_days``)."""
    message = error.message
    field = error.details.get("field")
    if isinstance(message, Message) and "field" in message.params and field in FIELD_WORDS:
        label = str(tr(FIELD_WORDS[field]))
        return service_message(Message(message.template, {**message.params, "field": label}))
    return problem_text(error.code, message)


def reminders_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    def page(
        request: Request,
        status: int = 200,
        error: ValidationError | None = None,
        form: Any = None,
    ) -> Response:
        op = console.operator(request)
        op.require(Permission.PROGRAM_READ)
        settings = reminder_svc.reminder_settings(ctx, op.program)
        values = {
            "expiry": settings.expiry,
            "expiry_days": ", ".join(str(d) for d in settings.expiry_days),
            "win_back": settings.win_back,
            "win_back_days": str(settings.win_back_days),
            "birthday": settings.birthday,
            "tier_drop": settings.tier_drop,
            "tier_drop_days": str(settings.tier_drop_days),
        }
        if form is not None:  # a refused form is shown as it was typed
            values = {
                **{k: str(form.get(k, "")) for k in FIELD_WORDS},
                **{k: form.get(k) == "on" for k in ("expiry", "win_back", "birthday", "tier_drop")},
            }
        field = error.details.get("field") if error else None
        errors = {str(field): field_error(error)} if error and field else {}
        reminders = [
            {
                "key": key,
                "topic": str(kind),
                "word": word(TOPIC_WORDS, str(kind)),
                "templates": [(lang, word(LANGUAGE_WORDS, lang)) for lang in LANGUAGES],
            }
            for key, kind in (
                ("expiry", ReminderKind.EXPIRY),
                ("win_back", ReminderKind.WIN_BACK),
                ("birthday", ReminderKind.BIRTHDAY),
                ("tier_drop", ReminderKind.TIER_DROP),
            )
        ]
        return console.page(
            op,
            "admin_reminders.html",
            status,
            reminders={r["key"]: r for r in reminders},
            values=values,
            errors=errors,
            error=error if error and not errors else None,
            labels={k: str(tr(v)) for k, v in FIELD_WORDS.items()},
            limits={"offsets": MAX_OFFSETS, "days": MAX_DAYS, "win_back": MAX_WIN_BACK_DAYS},
            can_edit=op.can(Permission.NOTIFICATIONS_EDIT),
            done=request.query_params.get("done"),
            nav="notifications",
        )

    @router.get("/notifications/reminders")
    def reminders(request: Request) -> Response:
        return page(request)

    @router.post("/notifications/reminders")
    def save_reminders(request: Request, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.NOTIFICATIONS_EDIT)
        try:
            settings = settings_from_form(form)
        except ValidationError as e:
            return page(request, status_of(e), e, form)
        reminder_svc.set_reminder_settings(
            ctx, op.program, reminder_svc.SetReminders(settings, op.key.actor)
        )
        return redirect("/admin/notifications/reminders?done=saved")

    return router
