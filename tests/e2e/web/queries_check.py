"""Reading back what the web UI wrote, through the web package's own read helpers."""

from __future__ import annotations

from kopilka.web.queries import current_consents


def latest_consents(world) -> dict[str, bool]:
    return {
        c.purpose: c.granted for c in current_consents(world.ctx, world.program, world.member_id)
    }
