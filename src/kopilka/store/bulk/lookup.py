"""Set-based reads an import needs per batch, and its resume checkpoint.

The checkpoint of a file lives in ``idempotency_keys`` under ``import:<kind>:<sha256>``:
an import of one file is an idempotent operation keyed by the file's content, and its
stored outcome is the progress so far. It is written in the same transaction as each
batch, so a batch and the checkpoint that says it is done commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from kopilka.domain.member import Member, MemberStatus
from kopilka.store.tables import idempotency_keys, member_identifiers, members, purchases

CHUNK = 5000


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


def find_identifiers(
    conn: Connection, program_id: int, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Member ids of the (kind, normalised value) identifiers that exist in the program."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in set(pairs):
        by_kind.setdefault(str(kind), []).append(value)
    c = member_identifiers.c
    out: dict[tuple[str, str], int] = {}
    for kind, values in sorted(by_kind.items()):
        for part in _chunks(sorted(values)):
            q = select(c.value, c.member_id).where(
                c.program_id == program_id, c.kind == kind, c.value.in_(part)
            )
            for value, member_id in conn.execute(q):
                out[(kind, value)] = int(member_id)
    return out


def existing_member_ids(conn: Connection, program_id: int, ids: Iterable[int]) -> set[int]:
    found: set[int] = set()
    for part in _chunks(sorted(set(ids))):
        q = select(members.c.id).where(members.c.program_id == program_id, members.c.id.in_(part))
        found.update(int(i) for i in conn.execute(q).scalars())
    return found


def load_members(conn: Connection, program_id: int, ids: Iterable[int]) -> dict[int, Member]:
    """The members as the rules see them (no identifiers), by id."""
    m = members.c
    out: dict[int, Member] = {}
    for part in _chunks(sorted(set(ids))):
        q = select(
            m.id,
            m.status,
            m.enrolled_at,
            m.birthday,
            m.gender,
            m.attributes,
            m.tier_code,
            m.lifetime_spend_minor,
            m.purchase_count,
        ).where(m.program_id == program_id, m.id.in_(part))
        for r in conn.execute(q):
            out[r[0]] = Member(
                id=r[0],
                program_id=program_id,
                status=MemberStatus(r[1]),
                enrolled_at=r[2],
                birthday=r[3],
                gender=r[4],
                attributes=dict(r[5] or {}),
                tier_code=r[6],
                lifetime_spend_minor=r[7],
                purchase_count=r[8],
            )
    return out


def existing_receipts(conn: Connection, program_id: int, receipt_ids: Iterable[str]) -> set[str]:
    p = purchases.c
    found: set[str] = set()
    for part in _chunks(sorted(set(receipt_ids))):
        q = select(p.receipt_id).where(p.program_id == program_id, p.receipt_id.in_(part))
        found.update(conn.execute(q).scalars())
    return found


# -- checkpoint -------------------------------------------------------------------------------
@dataclass(slots=True)
class Checkpoint:
    """How far the import of one file has come; ``counts`` adds up over resumed runs."""

    key: str
    sha256: str
    rows_done: int = 0
    done: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    stored: bool = False
    jobs: int = 1  # processes booking the file (``import purchases --jobs``); a resume keeps it

    def to_json(self, file: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": file,
            "rows_done": self.rows_done,
            "done": self.done,
            "counts": self.counts,
        }
        if self.jobs != 1:
            out["jobs"] = self.jobs
        return out


def checkpoint_key(kind: str, sha256: str) -> str:
    return f"import:{kind}:{sha256}"


def read_checkpoint(
    conn: Connection, program_id: int, kind: str, sha256: str, *, lock: bool = False
) -> Checkpoint:
    """The stored progress (a fresh checkpoint if none); ``lock`` takes its row on PostgreSQL."""
    key = checkpoint_key(kind, sha256)
    c = idempotency_keys.c
    q = select(c.response).where(c.program_id == program_id, c.key == key)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        return Checkpoint(key, sha256)
    data = row[0] or {}
    return Checkpoint(
        key,
        sha256,
        int(data.get("rows_done", 0)),
        bool(data.get("done", False)),
        {str(k): int(v) for k, v in (data.get("counts") or {}).items()},
        stored=True,
        jobs=int(data.get("jobs", 1)),
    )


def save_checkpoint(
    conn: Connection, program_id: int, cp: Checkpoint, file: str, at: datetime
) -> None:
    """Store the progress in the current transaction."""
    c = idempotency_keys.c
    values = {"succeeded": cp.done, "response": cp.to_json(file), "created_at": at}
    if cp.stored:
        conn.execute(
            update(idempotency_keys)
            .where(c.program_id == program_id, c.key == cp.key)
            .values(**values)
        )
    else:
        conn.execute(
            insert(idempotency_keys).values(
                program_id=program_id,
                key=cp.key,
                operation="import",
                request_hash=cp.sha256,
                **values,
            )
        )
        cp.stored = True
