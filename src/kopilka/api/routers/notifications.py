"""Message templates and the notification policy of the key's program, as the console's
Notifications pages edit them (``services/notifications``): the topics and which templates
the program changed; one template (the program's own, or the shipped default); a preview
rendered with the topic's sample values; storing a template (only when every part renders
and a marketing topic's bodies carry ``{{ unsubscribe_url }}``: otherwise 422 with each
problem's part and line, nothing written) and resetting it to the default; the policy read
and replaced. A body is bounded by the server's request size limit (413 beyond it).

Reading and previewing need ``program:read``; changing, ``notifications:edit`` (admins).
Changes are audited under the key's name, as the console's are.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from kopilka.api.deps import Ctx, CurrentKey, CurrentProgram, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.notifications import (
    PolicyIn,
    PolicyOut,
    RenderedOut,
    TemplateIn,
    TemplateOut,
    TopicTemplates,
)
from kopilka.domain.errors import NotFoundError
from kopilka.domain.messages import msg
from kopilka.domain.notifications import LANGUAGES
from kopilka.services import notifications as notif_svc
from kopilka.services.apikeys import Permission as P

router = APIRouter(prefix=f"{V1}/notifications", tags=["notifications"])
READ = [permit(P.PROGRAM_READ)]
EDIT = [permit(P.NOTIFICATIONS_EDIT)]
TopicPath = Annotated[str, Path(max_length=64, pattern=r"^[a-z][a-z0-9_]{0,63}$")]
LanguagePath = Annotated[str, Path(max_length=2, pattern=r"^(ru|en)$")]
TEMPLATE = "/templates/{topic}/{language}"


def _topic(topic: str) -> str:
    """The topic named in the path, or 404."""
    if topic not in notif_svc.TOPICS:
        raise NotFoundError(msg("there is no message topic %(topic)s", topic=topic), field="topic")
    return topic


@router.get(
    "/templates",
    response_model=list[TopicTemplates],
    dependencies=READ,
    responses=responses("unauthorized", "forbidden"),
)
def list_templates(ctx: Ctx, program: CurrentProgram) -> list[TopicTemplates]:
    """Every topic with its variables (and their sample values) and, per language, whether
    the program changed its template."""
    custom = {(t.topic, t.language) for t in notif_svc.list_templates(ctx, program)}
    return [
        TopicTemplates(
            topic=key,
            purpose=str(topic.purpose),
            urgent=topic.urgent,
            variables=dict(topic.variables),
            custom={lang: (key, lang) in custom for lang in LANGUAGES},
        )
        for key, topic in sorted(notif_svc.TOPICS.items())
    ]


@router.get(
    TEMPLATE,
    response_model=TemplateOut,
    dependencies=READ,
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def get_template(
    topic: TopicPath, language: LanguagePath, ctx: Ctx, program: CurrentProgram
) -> TemplateOut:
    """The program's template of the topic in the language: its own, or the default."""
    return TemplateOut.of(notif_svc.get_template(ctx, program, _topic(topic), language))


@router.put(
    TEMPLATE,
    response_model=TemplateOut,
    dependencies=EDIT,
    responses=responses("unauthorized", "forbidden", "not_found", "payload_too_large"),
)
def put_template(
    topic: TopicPath,
    language: LanguagePath,
    body: TemplateIn,
    ctx: Ctx,
    program: CurrentProgram,
    key: CurrentKey,
) -> TemplateOut:
    """Store the program's own version once every part renders with the topic's sample
    values; otherwise 422 ``validation_error`` whose ``details.problems`` lists each
    problem (``part``, ``line``, ``message``) and nothing is written. Audited as
    ``notifications.template``."""
    source = body.to_source(_topic(topic), language)
    return TemplateOut.of(notif_svc.save_template(ctx, program, source, key.actor))


@router.post(
    f"{TEMPLATE}/reset",
    response_model=TemplateOut,
    dependencies=EDIT,
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def reset_template(
    topic: TopicPath, language: LanguagePath, ctx: Ctx, program: CurrentProgram, key: CurrentKey
) -> TemplateOut:
    """Drop the program's own version: the shipped default applies again (answered; a
    ``POST``, not a ``DELETE``: the template stays, as the default). Audited as
    ``notifications.template_reset`` when there was one."""
    return TemplateOut.of(
        notif_svc.reset_template(ctx, program, _topic(topic), language, key.actor)
    )


@router.post(
    f"{TEMPLATE}/preview",
    response_model=RenderedOut,
    dependencies=READ,
    responses=responses("unauthorized", "forbidden", "not_found", "payload_too_large"),
)
def preview_template(topic: TopicPath, language: LanguagePath, body: TemplateIn) -> RenderedOut:
    """The template sent, rendered with the topic's sample values; stores nothing. A
    template that would not be stored is 422 with its problems, as ``PUT``'s."""
    source = body.to_source(_topic(topic), language)
    problems = notif_svc.check_source(source, notif_svc.sample_variables(topic))
    if problems:
        raise notif_svc.TemplateInvalid(msg("the template does not render"), problems=problems)
    rendered = notif_svc.preview(source)
    return RenderedOut(subject=rendered.subject, html=rendered.html, text=rendered.text)


@router.get(
    "/policy",
    response_model=PolicyOut,
    dependencies=READ,
    responses=responses("unauthorized", "forbidden"),
)
def get_policy(ctx: Ctx, program: CurrentProgram) -> dict[str, object]:
    """Marketing caps per channel, quiet hours, the default language, topics off (the
    defaults when the program never set them)."""
    return notif_svc.get_policy(ctx, program).to_json()


@router.put(
    "/policy",
    response_model=PolicyOut,
    dependencies=EDIT,
    responses=responses("unauthorized", "forbidden", "payload_too_large"),
)
def put_policy(
    body: PolicyIn, ctx: Ctx, program: CurrentProgram, key: CurrentKey
) -> dict[str, object]:
    """Replace the policy (a channel not named keeps the default cap). Audited as
    ``notifications.settings`` with before and after."""
    return notif_svc.set_policy(ctx, program, body.to_policy(), key.actor).to_json()
