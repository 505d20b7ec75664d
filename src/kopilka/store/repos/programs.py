"""Programs: read and write their configuration."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from kopilka.domain.errors import NotFoundError
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.domain.money import Rounding
from kopilka.domain.program import NegativeBalancePolicy, Program, RestorePolicy
from kopilka.store.repos import new_id
from kopilka.store.tables import programs


def _program(row: Any) -> Program:
    m = row._mapping
    return Program(
        id=m["id"],
        code=m["code"],
        name=m["name"],
        currency=m["currency"],
        point_value_minor=m["point_value_minor"],
        rounding=Rounding(m["rounding"]),
        timezone=m["timezone"],
        expiry=ExpiryPolicy(ExpiryKind(m["expiry_kind"]), m["expiry_n"]),
        activation_delay=timedelta(seconds=m["activation_delay_s"]),
        negative_balance=NegativeBalancePolicy(m["negative_balance"]),
        restore_policy=RestorePolicy(m["restore_policy"]),
        hold_ttl=timedelta(seconds=m["hold_ttl_s"]),
        rules_approval=bool(m["rules_approval"]),
    )


def program_values(p: Program) -> dict[str, Any]:
    return {
        "code": p.code,
        "name": p.name,
        "currency": p.currency,
        "point_value_minor": p.point_value_minor,
        "rounding": str(p.rounding),
        "timezone": p.timezone,
        "expiry_kind": str(p.expiry.kind),
        "expiry_n": p.expiry.n,
        "activation_delay_s": int(p.activation_delay.total_seconds()),
        "negative_balance": str(p.negative_balance),
        "restore_policy": str(p.restore_policy),
        "hold_ttl_s": int(p.hold_ttl.total_seconds()),
        "rules_approval": p.rules_approval,
    }


_GET = select(programs).where(programs.c.id == bindparam("i"))


class ProgramRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, program: Program, now: datetime) -> int:
        return new_id(
            self.conn.execute(insert(programs).values(**program_values(program), created_at=now))
        )

    def update(self, program: Program) -> None:
        self.conn.execute(
            update(programs).where(programs.c.id == program.id).values(**program_values(program))
        )

    def get(self, program_id: int) -> Program:
        row = self.conn.execute(_GET, {"i": program_id}).first()
        if row is None:
            raise NotFoundError(f"program {program_id} not found", program_id=program_id)
        return _program(row)

    def by_code(self, code: str) -> Program:
        row = self.conn.execute(select(programs).where(programs.c.code == code)).first()
        if row is None:
            raise NotFoundError(f"program {code!r} not found", program=code)
        return _program(row)

    def list(self) -> list[Program]:
        return [_program(r) for r in self.conn.execute(select(programs).order_by(programs.c.id))]
