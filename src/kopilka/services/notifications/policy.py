"""A program's notification policy: read (the defaults when never set) and changed by an
admin (validated, audited)."""

from __future__ import annotations

from kopilka.domain.notifications import NotificationPolicy
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.messages import NotificationSettingsRepo
from kopilka.store.uow import UnitOfWork


def policy_in(uow: UnitOfWork, program_id: int) -> NotificationPolicy:
    """The program's policy as stored in this unit of work (the defaults when unset)."""
    stored = NotificationSettingsRepo(uow.conn).get(program_id)
    return NotificationPolicy() if stored is None else NotificationPolicy.from_json(stored)


def get_policy(ctx: ServiceContext, program: Program) -> NotificationPolicy:
    """The program's notification policy (caps, quiet hours, language, topics off)."""
    with ctx.uow(read_only=True) as uow:
        return policy_in(uow, program.id)


def set_policy(
    ctx: ServiceContext, program: Program, policy: NotificationPolicy, actor: str
) -> NotificationPolicy:
    """Store the program's notification policy (already validated: a
    :class:`NotificationPolicy` checks itself), audited with before and after."""
    now = ctx.now()
    with ctx.uow() as uow:
        before = policy_in(uow, program.id).to_json()
        after = policy.to_json()
        NotificationSettingsRepo(uow.conn).put(program.id, after, now, actor)
        AuditLogRepo(uow.conn).add(
            program.id, actor, "notifications.settings", program.code, before, after, now
        )
        uow.commit()
    return policy
