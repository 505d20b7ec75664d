"""Sending queued messages: claimed with a lease (so the ``messages`` job and
:func:`deliver_now` never send one twice at once), rendered with the program's template
in the message's language, handed to the channel's adapter, and recorded: sent, queued
again for a retry (the delay doubling per attempt), or failed for good. Variables a topic
calls sensitive (a one-time code) are erased from the row once it is sent or failed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

from kopilka.domain.notifications import MARKETING_CONSENT, Channel, Purpose
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.notifications.channels import (
    KeepsConnection,
    Outgoing,
    Sender,
    SendFailed,
    sender_for,
)
from kopilka.services.notifications.commands import Delivered
from kopilka.services.notifications.templates import (
    TemplateInvalid,
    default_template,
    render,
    template_in,
)
from kopilka.services.notifications.topics import Value
from kopilka.services.notifications.unsubscribe import UnsubscribeToken, unsubscribe_url
from kopilka.store.repos.messages import MessageRepo, MessageRow
from kopilka.store.uow import UnitOfWork

log = logging.getLogger("kopilka.notifications")

LEASE = timedelta(minutes=2)
BATCH = 100


def _variables(
    ctx: ServiceContext, uow: UnitOfWork, program: Program, row: MessageRow
) -> tuple[dict[str, Value], str | None]:
    """A message's variables for its template: the stored ones and the common ones (the
    unsubscribe link of a marketing message to a member: returned too, for the headers)."""
    first_name = ""
    if row.member_id is not None:
        member = uow.members.get(program.id, row.member_id, identifiers=False)
        first_name = member.first_name or ""
    link = None
    if row.purpose == Purpose.MARKETING and row.member_id is not None:
        purpose = MARKETING_CONSENT[Channel(row.channel)]
        link = unsubscribe_url(
            ctx.messaging.public_url,
            ctx.messaging.secret,
            UnsubscribeToken(program.id, row.member_id, purpose),
        )
    common: dict[str, Value] = {
        "program_name": program.name,
        "first_name": first_name,
        "portal_url": f"{ctx.messaging.public_url.rstrip('/')}/portal",
        "unsubscribe_url": link,
    }
    return {**common, **row.variables}, link


def _outgoing(ctx: ServiceContext, uow: UnitOfWork, program: Program, row: MessageRow) -> Outgoing:
    variables, link = _variables(ctx, uow, program, row)
    source = template_in(uow, program.id, row.topic, row.locale)
    try:
        content = render(source, variables)
    except TemplateInvalid:
        if not source.custom:
            raise
        # the program's own template was checked when stored; should it still fail (a
        # variable the topic gained since), the shipped one still tells the member
        log.warning("custom template failed, default used", extra={"topic": row.topic})
        content = render(default_template(row.topic, row.locale), variables)
    assert row.address is not None  # queued messages have one (else suppressed)
    return Outgoing(row.id, Channel(row.channel), row.address, row.locale, row.topic, content, link)


def _kept(row: MessageRow) -> dict[str, object]:
    """The variables a finished message keeps: the sensitive ones erased."""
    return {k: ("***" if k in row.sensitive else v) for k, v in row.variables.items()}


def deliver(
    ctx: ServiceContext,
    program: Program,
    ids: Sequence[int] | None = None,
    *,
    limit: int = BATCH,
    senders: Callable[[Channel], Sender] | None = None,
) -> list[Delivered]:
    """Send up to ``limit`` of the program's due queued messages (only ``ids`` when
    given): one batch, each message's outcome. ``senders`` picks a channel's adapter
    (default: the settings' :func:`sender_for`)."""
    holder = f"messages-{uuid.uuid4().hex[:12]}"
    now = ctx.now()
    pick = senders or (lambda channel: sender_for(channel, ctx.messaging))
    with ctx.uow() as uow:
        rows = MessageRepo(uow.conn).claim(program.id, holder, now, now + LEASE, limit, ids)
        prepared: list[tuple[MessageRow, Outgoing | SendFailed]] = []
        for row in rows:
            try:
                prepared.append((row, _outgoing(ctx, uow, program, row)))
            except TemplateInvalid:
                prepared.append((row, SendFailed("template: does not render", permanent=True)))
        uow.commit()
    outcomes: list[Delivered] = []
    # one adapter per channel for the batch, so an SMTP connection or an HTTP client's
    # kept-alive connections serve all its messages; closed when the batch is done
    adapters: dict[Channel, Sender] = {}
    try:
        for row, outgoing in prepared:
            ref: str | None = None
            failure: SendFailed | None = outgoing if isinstance(outgoing, SendFailed) else None
            if isinstance(outgoing, Outgoing):
                sender = adapters.get(outgoing.channel)
                if sender is None:
                    sender = adapters[outgoing.channel] = pick(outgoing.channel)
                try:
                    ref = sender.send(outgoing)
                except SendFailed as e:
                    failure = e
            outcomes.append(_record(ctx, program, row, holder, outgoing, ref, failure))
    finally:
        for sender in adapters.values():
            if isinstance(sender, KeepsConnection):
                sender.close()
    if ids is not None:
        taken = {r.id for r, _ in prepared}
        outcomes.extend(
            {"id": i, "status": "skipped", "error": None} for i in ids if i not in taken
        )
    return outcomes


def _record(
    ctx: ServiceContext,
    program: Program,
    row: MessageRow,
    holder: str,
    outgoing: Outgoing | SendFailed,
    ref: str | None,
    failure: SendFailed | None,
) -> Delivered:
    now = ctx.now()
    with ctx.uow() as uow:
        repo = MessageRepo(uow.conn)
        if failure is None:
            assert isinstance(outgoing, Outgoing)
            ok = repo.mark_sent(row.id, holder, outgoing.content.subject, ref, _kept(row), now)
            status = "sent"
        else:
            attempt = row.attempts + 1
            final = failure.permanent or attempt >= ctx.messaging.max_attempts
            retry_at = (
                None
                if final
                else now + timedelta(seconds=ctx.messaging.retry_base * 2 ** (attempt - 1))
            )
            variables = _kept(row) if final else dict(row.variables)
            ok = repo.mark_attempt_failed(row.id, holder, failure.why, retry_at, variables)
            status = "failed" if final else "queued"
            log.warning(
                "message not sent",
                extra={"message_id": row.id, "channel": row.channel, "error": failure.why},
            )
        uow.commit()
    if not ok:  # the lease was lost meanwhile: another sender owns the row now
        return {"id": row.id, "status": "skipped", "error": None}
    return {"id": row.id, "status": status, "error": None if failure is None else failure.why}


def deliver_now(
    ctx: ServiceContext, program: Program, message_ids: Sequence[int]
) -> list[Delivered]:
    """Send these messages at once (after the unit of work that recorded them committed):
    what a one-time code needs. A message not queued, not yet due (quiet hours) or taken
    by another sender is ``skipped``; a failed attempt stays queued for the ``messages``
    job to retry."""
    if not message_ids:
        return []
    return deliver(ctx, program, list(message_ids), limit=len(message_ids))
