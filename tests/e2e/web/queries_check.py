"""Reading back what the web UI wrote, through the services the pages read with."""

from __future__ import annotations

from kopilka.services.members import current_consents


def latest_consents(world) -> dict[str, bool]:
    return {
        c.purpose: c.granted for c in current_consents(world.ctx, world.program, world.member_id)
    }
