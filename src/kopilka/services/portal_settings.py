"""Each program's portal settings (``domain/portal.py``): whether visitors may join the
program on their own in the portal. Read by the portal's join pages, changed by
``kopilka program set-self-enrolment`` (audited as ``portal.settings``)."""

from __future__ import annotations

from dataclasses import dataclass

from kopilka.domain.portal import PortalSettings
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.store.repos.audit_log import AuditLogRepo
from kopilka.store.repos.portal_settings import PortalSettingsRepo


@dataclass(frozen=True, slots=True)
class SetPortalSettings:
    """Replace the program's portal settings (validated when built) as ``actor``."""

    settings: PortalSettings
    actor: str


def portal_settings(ctx: ServiceContext, program: Program) -> PortalSettings:
    """The program's portal settings (no self-enrolment when never set)."""
    with ctx.uow(read_only=True) as uow:
        stored = PortalSettingsRepo(uow.conn).settings(program.id)
    return PortalSettings() if stored is None else PortalSettings.from_json(stored)


def open_to_join(ctx: ServiceContext) -> list[Program]:
    """The programs whose portal settings let visitors join, in the order of
    :func:`kopilka.services.programs.list_programs`."""
    with ctx.uow(read_only=True) as uow:
        stored = PortalSettingsRepo(uow.conn).all()
        programs = uow.programs.list()
    return [p for p in programs if PortalSettings.from_json(stored.get(p.id, {})).self_enrolment]


def set_portal_settings(
    ctx: ServiceContext, program: Program, command: SetPortalSettings
) -> PortalSettings:
    """Store the settings, audited with what they were before and after."""
    now = ctx.now()
    with ctx.uow() as uow:
        repo = PortalSettingsRepo(uow.conn)
        before = repo.settings(program.id)
        after = command.settings.to_json()
        repo.save(program.id, after, now, command.actor)
        target = f"program:{program.id}"
        audit = AuditLogRepo(uow.conn)
        audit.add(program.id, command.actor, "portal.settings", target, before, after, now)
        uow.commit()
    return command.settings
