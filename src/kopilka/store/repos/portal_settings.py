"""Each program's portal settings (``portal_settings``): read and replace the document."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from kopilka.store.tables import portal_settings

_t = portal_settings.c


class PortalSettingsRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def settings(self, program_id: int) -> dict[str, object] | None:
        row = self.conn.execute(select(_t.settings).where(_t.program_id == program_id)).first()
        return None if row is None else dict(row[0])

    def all(self) -> dict[int, dict[str, object]]:
        """Every program's stored settings, by program id (few rows: one per program)."""
        rows = self.conn.execute(select(_t.program_id, _t.settings)).all()
        return {int(r[0]): dict(r[1]) for r in rows}

    def save(self, program_id: int, settings: dict[str, object], at: datetime, actor: str) -> None:
        values = {"settings": settings, "updated_at": at, "updated_by": actor}
        done = self.conn.execute(
            update(portal_settings).where(_t.program_id == program_id).values(**values)
        )
        if not done.rowcount:
            self.conn.execute(insert(portal_settings).values(program_id=program_id, **values))
