"""One-time code rows (``one_time_codes``): add one, read one for a check (locked on
PostgreSQL, so two tries at once count as two), count a try, end one, and end the
address's older codes when a newer one is sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from kopilka.domain.one_time_codes import Challenge, CodeChannel, CodePurpose
from kopilka.store.tables import one_time_codes

_t = one_time_codes.c


class OneTimeCodeRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, challenge: Challenge, address_digest: str) -> None:
        self.conn.execute(
            insert(one_time_codes).values(
                id=challenge.id,
                program_id=challenge.program_id,
                member_id=challenge.member_id,
                address_digest=address_digest,
                channel=str(challenge.channel),
                code_digest=challenge.digest,
                created_at=challenge.created_at,
                expires_at=challenge.expires_at,
                attempts=challenge.attempts,
                ended_at=challenge.ended_at,
                purpose=str(challenge.purpose),
            )
        )

    def end_open(self, program_id: int, address_digest: str, now: datetime) -> int:
        """End every open code of the address (a newer one replaces them); how many."""
        result = self.conn.execute(
            update(one_time_codes)
            .where(
                _t.program_id == program_id,
                _t.address_digest == address_digest,
                _t.ended_at.is_(None),
            )
            .values(ended_at=now)
        )
        return result.rowcount or 0

    def get(self, challenge_id: str, *, lock: bool = False) -> Challenge | None:
        query = select(one_time_codes).where(_t.id == challenge_id)
        if lock and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        if row is None:
            return None
        return Challenge(
            id=row["id"],
            program_id=row["program_id"],
            member_id=row["member_id"],
            channel=CodeChannel(row["channel"]),
            digest=row["code_digest"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            attempts=row["attempts"],
            ended_at=row["ended_at"],
            purpose=CodePurpose(row["purpose"]),
        )

    def address_digest(self, challenge_id: str) -> str | None:
        """The digest of the address a code was sent to (to check a join names it)."""
        return self.conn.execute(
            select(_t.address_digest).where(_t.id == challenge_id)
        ).scalar_one_or_none()

    def record_try(self, challenge_id: str, *, end_at: datetime | None) -> None:
        """Count one try; with ``end_at``, the code is over (used, or out of tries)."""
        values: dict[str, object] = {"attempts": _t.attempts + 1}
        if end_at is not None:
            values["ended_at"] = end_at
        self.conn.execute(update(one_time_codes).where(_t.id == challenge_id).values(**values))
