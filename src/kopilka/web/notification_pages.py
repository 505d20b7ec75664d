"""The console's notification pages: ``/admin/notifications`` (the topics, each language's
template default or changed, and the program's policy: caps per channel, quiet hours, the
default language, topics switched off) and the template editor
``/admin/notifications/<topic>/<language>`` (subject, HTML and text; a preview rendered
with the topic's sample variables; errors with their part and line; save and reset).
Reading needs ``program:read``; changing, ``notifications:edit`` (admins). The words of
topics, channels, statuses and reasons, in both languages, for these pages and the
member card's messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.notifications import (
    LANGUAGES,
    Channel,
    FrequencyCap,
    NotificationPolicy,
    QuietHours,
    parse_clock,
)
from kopilka.domain.program import Program
from kopilka.services import notifications as notif_svc
from kopilka.services.apikeys import Permission
from kopilka.services.context import ServiceContext
from kopilka.web.console import Console
from kopilka.web.i18n import N_, tr
from kopilka.web.render import Form, Refused, WebRoute, redirect, status_of

TOPIC_WORDS = {
    "otp_code": N_("One-time code"),
    "expiry_reminder": N_("Points expire soon"),
    "winback": N_("No purchase for a while"),
    "birthday_greeting": N_("Birthday greeting"),
    "tier_drop": N_("Tier will drop"),
}
CHANNEL_WORDS = {"email": N_("e-mail"), "sms": N_("SMS"), "push": N_("push")}
STATUS_WORDS = {
    "queued": N_("queued"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "suppressed": N_("not sent"),
}
REASON_WORDS = {
    "no_consent": N_("no consent"),
    "unsubscribed": N_("unsubscribed"),
    "capped": N_("frequency cap reached"),
    "no_address": N_("no address"),
    "blocked": N_("member blocked"),
    "topic_off": N_("topic switched off"),
}
PURPOSE_WORDS = {"transactional": N_("transactional"), "marketing": N_("marketing")}
LANGUAGE_WORDS = {"ru": N_("Russian"), "en": N_("English")}
PART_WORDS = {"subject": N_("Subject"), "html": N_("HTML"), "text": N_("Plain text")}

Topic = Annotated[str, PathParam(max_length=64, pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Language = Annotated[str, PathParam(max_length=2, pattern=r"^(ru|en)$")]


def word(words: dict[str, str], code: object) -> str:
    """The word of ``code`` in the page's language (the code itself when it has none)."""
    message = words.get(str(code))
    return str(tr(message)) if message else str(code)


def message_rows(ctx: ServiceContext, program: Program, member_id: int) -> list[dict[str, Any]]:
    """A member's messages for the console card: status, channel, topic, time and the
    masked address, each in the page's words."""
    return [
        {
            **m,
            "topic_word": word(TOPIC_WORDS, m["topic"]),
            "channel_word": word(CHANNEL_WORDS, m["channel"]),
            "status_word": word(STATUS_WORDS, m["status"]),
            "reason_word": word(REASON_WORDS, m["reason"]) if m["reason"] else None,
            "purpose_word": word(PURPOSE_WORDS, m["purpose"]),
        }
        for m in notif_svc.member_messages(ctx, program, member_id)
    ]


def _int(form: Any, name: str, default: int) -> int:
    raw = str(form.get(name, "")).strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(tr("Enter a whole number."), field=name) from None


def policy_from_form(form: Any) -> NotificationPolicy:
    """The policy the settings form describes, every field checked (ValidationError
    naming the first that is wrong)."""
    caps = {
        c: FrequencyCap(_int(form, f"cap_{c}_count", 2), _int(form, f"cap_{c}_days", 7))
        for c in Channel
    }
    quiet = QuietHours(
        parse_clock(str(form.get("quiet_start", "21:00")), "quiet_start"),
        parse_clock(str(form.get("quiet_end", "09:00")), "quiet_end"),
    )
    off = frozenset(t for t in notif_svc.TOPICS if form.get(f"off_{t}") == "on")
    return NotificationPolicy(caps, quiet, str(form.get("default_language", "ru")), off)


def notifications_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    def overview(
        request: Request, status: int = 200, error: KopilkaError | None = None, form: Any = None
    ) -> Response:
        op = console.operator(request)
        op.require(Permission.PROGRAM_READ)
        custom = {(t.topic, t.language) for t in notif_svc.list_templates(ctx, op.program)}
        policy = notif_svc.get_policy(ctx, op.program)
        topics = [
            {
                "key": key,
                "word": word(TOPIC_WORDS, key),
                "purpose": word(PURPOSE_WORDS, topic.purpose),
                "variables": list(topic.variables),
                "languages": [
                    (lang, word(LANGUAGE_WORDS, lang), (key, lang) in custom) for lang in LANGUAGES
                ],
                "off": key in policy.disabled_topics,
            }
            for key, topic in sorted(notif_svc.TOPICS.items())
        ]
        return console.page(
            op,
            "admin_notifications.html",
            status,
            topics=topics,
            policy=policy,
            channels=[(str(c), word(CHANNEL_WORDS, c)) for c in Channel],
            language_choices=[(lang, word(LANGUAGE_WORDS, lang)) for lang in LANGUAGES],
            can_edit=op.can(Permission.NOTIFICATIONS_EDIT),
            error=error,
            form=dict(form or {}),
            done=request.query_params.get("done"),
            nav="notifications",
        )

    @router.get("/notifications")
    def notifications(request: Request) -> Response:
        return overview(request)

    @router.post("/notifications/settings")
    def save_settings(request: Request, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.NOTIFICATIONS_EDIT)
        try:
            notif_svc.set_policy(ctx, op.program, policy_from_form(form), op.key.actor)
        except KopilkaError as e:
            return overview(request, status_of(e), e, form)
        return redirect("/admin/notifications?done=settings")

    def editor(
        request: Request,
        topic: str,
        language: str,
        *,
        source: notif_svc.TemplateSource | None = None,
        status: int = 200,
        problems: list[notif_svc.TemplateProblem] | None = None,
        error: KopilkaError | None = None,
    ) -> Response:
        op = console.operator(request)
        op.require(Permission.PROGRAM_READ)
        if topic not in notif_svc.TOPICS:
            raise Refused(404, tr("There is no such message topic."))
        stored = notif_svc.get_template(ctx, op.program, topic, language)
        shown = source or stored
        rendered = None
        if not problems:
            try:
                rendered = notif_svc.preview(shown)
            except notif_svc.TemplateInvalid as e:
                problems = e.details["problems"]
        return console.page(
            op,
            "admin_notification_template.html",
            status,
            topic=topic,
            topic_word=word(TOPIC_WORDS, topic),
            language=language,
            language_word=word(LANGUAGE_WORDS, language),
            source=shown,
            custom=stored.custom,
            samples=notif_svc.sample_variables(topic),
            rendered=rendered,
            problems=[{**p, "part_word": word(PART_WORDS, p["part"])} for p in problems or []],
            error=error,
            can_edit=op.can(Permission.NOTIFICATIONS_EDIT),
            done=request.query_params.get("done"),
            nav="notifications",
        )

    @router.get("/notifications/{topic}/{language}")
    def template_page(request: Request, topic: Topic, language: Language) -> Response:
        return editor(request, topic, language)

    @router.post("/notifications/{topic}/{language}")
    def template_action(request: Request, topic: Topic, language: Language, form: Form) -> Response:
        """``action``: ``preview`` (render the form's text, store nothing), ``save`` or
        ``reset`` (back to the shipped default)."""
        op = console.operator(request)
        console.area.check_csrf(request, form)
        if topic not in notif_svc.TOPICS:
            raise Refused(404, tr("There is no such message topic."))
        action = form.get("action", "preview")
        source = notif_svc.TemplateSource(
            topic,
            language,
            form.get("subject", ""),
            form.get("html", ""),
            form.get("text", ""),
        )
        if action == "preview":
            problems = notif_svc.check_source(source, notif_svc.sample_variables(topic))
            return editor(
                request,
                topic,
                language,
                source=source,
                problems=problems,
                status=422 if problems else 200,
            )
        op.require(Permission.NOTIFICATIONS_EDIT)
        if action == "reset":
            notif_svc.reset_template(ctx, op.program, topic, language, op.key.actor)
            return redirect(f"/admin/notifications/{topic}/{language}?done=reset")
        try:
            notif_svc.save_template(ctx, op.program, source, op.key.actor)
        except notif_svc.TemplateInvalid as e:
            return editor(
                request,
                topic,
                language,
                source=source,
                status=422,
                problems=e.details["problems"],
            )
        except KopilkaError as e:
            return editor(request, topic, language, source=source, status=status_of(e), error=e)
        return redirect(f"/admin/notifications/{topic}/{language}?done=saved")

    return router
