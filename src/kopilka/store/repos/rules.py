"""Published rule-set versions and the usage counters of capped rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kopilka.store.tables import rule_proposals, rule_sets, rule_usage


@dataclass(frozen=True, slots=True)
class StoredRuleSet:
    version: int
    format: str
    document: str
    effective_at: datetime
    published_at: datetime
    published_by: str


_COLS = (
    rule_sets.c.version,
    rule_sets.c.format,
    rule_sets.c.document,
    rule_sets.c.effective_at,
    rule_sets.c.published_at,
    rule_sets.c.published_by,
)


_ACTIVE_AT = (
    select(*_COLS)
    .where(rule_sets.c.program_id == bindparam("p"), rule_sets.c.effective_at <= bindparam("at"))
    .order_by(rule_sets.c.effective_at.desc(), rule_sets.c.version.desc())
    .limit(1)
)


class RuleSetRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def latest_version(self, program_id: int) -> int:
        return int(
            self.conn.execute(
                select(func.coalesce(func.max(rule_sets.c.version), 0)).where(
                    rule_sets.c.program_id == program_id
                )
            ).scalar_one()
        )

    def add(self, program_id: int, rs: StoredRuleSet) -> None:
        self.conn.execute(
            rule_sets.insert().values(
                program_id=program_id,
                version=rs.version,
                format=rs.format,
                document=rs.document,
                effective_at=rs.effective_at,
                published_at=rs.published_at,
                published_by=rs.published_by,
            )
        )

    def active_at(self, program_id: int, at: datetime) -> StoredRuleSet | None:
        """The newest version whose effective time has come."""
        row = self.conn.execute(_ACTIVE_AT, {"p": program_id, "at": at}).first()
        return StoredRuleSet(*row) if row else None

    def by_id(self, program_id: int, rule_set_id: int) -> StoredRuleSet | None:
        row = self.conn.execute(
            select(*_COLS).where(
                rule_sets.c.program_id == program_id, rule_sets.c.id == rule_set_id
            )
        ).first()
        return StoredRuleSet(*row) if row else None

    def get(self, program_id: int, version: int) -> StoredRuleSet | None:
        row = self.conn.execute(
            select(*_COLS).where(
                rule_sets.c.program_id == program_id, rule_sets.c.version == version
            )
        ).first()
        return StoredRuleSet(*row) if row else None

    def list(self, program_id: int) -> list[StoredRuleSet]:
        rows = self.conn.execute(
            select(*_COLS).where(rule_sets.c.program_id == program_id).order_by(rule_sets.c.version)
        )
        return [StoredRuleSet(*r) for r in rows]


class UsageRepo:
    """Points and counts per (rule, member, period); member 0 is the program-wide budget."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._pg = conn.dialect.name == "postgresql"

    def get(
        self, program_id: int, keys: Sequence[tuple[str, int, str]], *, lock: bool = False
    ) -> dict[tuple[str, int, str], tuple[int, int]]:
        """(rule, member, period) -> (points, count) for the keys that have rows."""
        if not keys:
            return {}
        c = rule_usage.c
        q = (
            select(c.rule_id, c.member_id, c.period, c.points, c.count)
            .where(
                c.program_id == program_id,
                or_(*[and_(c.rule_id == r, c.member_id == m, c.period == p) for r, m, p in keys])
                if len(keys) < 50
                else tuple_(c.rule_id, c.member_id, c.period).in_(list(keys)),
            )
            .order_by(c.rule_id, c.member_id, c.period)
        )
        if lock and self._pg:
            q = q.with_for_update()
        return {(r[0], r[1], r[2]): (r[3], r[4]) for r in self.conn.execute(q)}

    def add(self, program_id: int, rows: Iterable[tuple[str, int, str, int, int]]) -> None:
        """Add (points, count) to each (rule, member, period) counter."""
        values = [
            {
                "program_id": program_id,
                "rule_id": r,
                "member_id": m,
                "period": p,
                "points": pts,
                "count": n,
            }
            for r, m, p, pts, n in rows
        ]
        if not values:
            return
        ins = pg_insert(rule_usage) if self._pg else sqlite_insert(rule_usage)
        stmt = ins.on_conflict_do_update(
            index_elements=["program_id", "rule_id", "member_id", "period"],
            set_={
                "points": rule_usage.c.points + ins.excluded.points,
                "count": rule_usage.c.count + ins.excluded.count,
            },
        )
        for v in values:
            self.conn.execute(stmt, v)

    def take(self, program_id: int, key: tuple[str, int, str], limit: int | None) -> bool:
        """Count one use on ``key`` if it stays within ``limit`` (None: no limit); whether it
        did. One conditional update on a row made first if missing: on PostgreSQL a
        concurrent taker waits for the row and then sees the count it left, so a limit of N
        is taken N times, never N+1."""
        rule_id, member_id, period = key
        values = {
            "program_id": program_id,
            "rule_id": rule_id,
            "member_id": member_id,
            "period": period,
            "points": 0,
            "count": 0,
        }
        ins = pg_insert(rule_usage) if self._pg else sqlite_insert(rule_usage)
        self.conn.execute(ins.on_conflict_do_nothing(), values)
        c = rule_usage.c
        stmt = (
            update(rule_usage)
            .where(
                c.program_id == program_id,
                c.rule_id == rule_id,
                c.member_id == member_id,
                c.period == period,
            )
            .values(count=c.count + 1)
        )
        if limit is not None:
            stmt = stmt.where(c.count < limit)
        return bool(self.conn.execute(stmt).rowcount)

    def give_back(self, program_id: int, key: tuple[str, int, str]) -> None:
        """Uncount one use on ``key`` (never below zero)."""
        rule_id, member_id, period = key
        c = rule_usage.c
        self.conn.execute(
            update(rule_usage)
            .where(
                c.program_id == program_id,
                c.rule_id == rule_id,
                c.member_id == member_id,
                c.period == period,
                c.count > 0,
            )
            .values(count=c.count - 1)
        )


@dataclass(frozen=True, slots=True)
class StoredProposal:
    id: int
    format: str
    document: str
    effective_at: datetime | None
    proposed_by: str
    proposed_at: datetime
    status: str  # proposed | approved | rejected
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    version: int | None


_PROPOSAL_COLS = (
    rule_proposals.c.id,
    rule_proposals.c.format,
    rule_proposals.c.document,
    rule_proposals.c.effective_at,
    rule_proposals.c.proposed_by,
    rule_proposals.c.proposed_at,
    rule_proposals.c.status,
    rule_proposals.c.decided_by,
    rule_proposals.c.decided_at,
    rule_proposals.c.comment,
    rule_proposals.c.version,
)


class ProposalRepo:
    """Rules proposed by a marketer, awaiting or after an admin's decision."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        program_id: int,
        fmt: str,
        document: str,
        effective_at: datetime | None,
        proposed_by: str,
        proposed_at: datetime,
    ) -> int:
        result = self.conn.execute(
            rule_proposals.insert().values(
                program_id=program_id,
                format=fmt,
                document=document,
                effective_at=effective_at,
                proposed_by=proposed_by,
                proposed_at=proposed_at,
                status="proposed",
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def get(
        self, program_id: int, proposal_id: int, *, lock: bool = False
    ) -> StoredProposal | None:
        query = select(*_PROPOSAL_COLS).where(
            rule_proposals.c.program_id == program_id, rule_proposals.c.id == proposal_id
        )
        if lock and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return StoredProposal(*row) if row else None

    def decide(
        self,
        program_id: int,
        proposal_id: int,
        status: str,
        decided_by: str,
        decided_at: datetime,
        comment: str | None,
        version: int | None,
    ) -> bool:
        """Record the decision on a proposal still open; False when it was decided already."""
        result = self.conn.execute(
            rule_proposals.update()
            .where(
                rule_proposals.c.program_id == program_id,
                rule_proposals.c.id == proposal_id,
                rule_proposals.c.status == "proposed",
            )
            .values(
                status=status,
                decided_by=decided_by,
                decided_at=decided_at,
                comment=comment,
                version=version,
            )
        )
        return result.rowcount == 1

    def latest(self, program_id: int, limit: int) -> list[StoredProposal]:
        """The program's latest proposals, newest first."""
        rows = self.conn.execute(
            select(*_PROPOSAL_COLS)
            .where(rule_proposals.c.program_id == program_id)
            .order_by(rule_proposals.c.id.desc())
            .limit(limit)
        )
        return [StoredProposal(*r) for r in rows]
