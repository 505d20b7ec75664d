"""Members, their identifiers, consents and balance rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from kopilka.domain.errors import DuplicateIdentifier, NotFoundError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.member import Consent, Member, MemberStatus
from kopilka.domain.messages import msg
from kopilka.ledger.model import Balance
from kopilka.store.db import FastStatement
from kopilka.store.repos import new_id
from kopilka.store.repos.ledger import DUE_EXISTS, due_names
from kopilka.store.tables import (
    consents,
    member_balances,
    member_identifiers,
    members,
    messages,
    rule_sets,
)

_PROFILE = ("first_name", "last_name", "birthday", "gender", "attributes", "tier_code")


# built once: these run on every purchase
_GET = select(members).where(members.c.id == bindparam("m"), members.c.program_id == bindparam("p"))
# the member and the id of the rule set in force at :at, in one round trip (a purchase
# needs both; the parsed rule set itself is cached per process by that id)
_ACTIVE_RULE_SET = (
    select(rule_sets.c.id)
    .where(rule_sets.c.program_id == bindparam("p"), rule_sets.c.effective_at <= bindparam("at"))
    .order_by(rule_sets.c.effective_at.desc(), rule_sets.c.version.desc())
    .limit(1)
    .scalar_subquery()
)
_FOR_PURCHASE = FastStatement(
    select(
        members,
        _ACTIVE_RULE_SET.label("rule_set_id"),
        *(flag.label(f"due_{i}") for i, flag in enumerate(DUE_EXISTS)),
    ).where(members.c.id == bindparam("m"), members.c.program_id == bindparam("p"))
)
_FIND = FastStatement(
    select(member_identifiers.c.member_id).where(
        member_identifiers.c.program_id == bindparam("p"),
        member_identifiers.c.kind == bindparam("k"),
        member_identifiers.c.value == bindparam("v"),
    )
)
_BALANCE = select(
    member_balances.c.member_id,
    member_balances.c.available,
    member_balances.c.pending,
    member_balances.c.held,
).where(member_balances.c.member_id == bindparam("m"))
# what a purchase (or a return, negatively) adds to its member's lifetime totals; also run
# inside the purchase's own statement (``purchases._INSERT_FAMILY``)
ADD_PURCHASE_STATS = FastStatement(
    update(members)
    .where(members.c.id == bindparam("m"))
    .values(
        lifetime_spend_minor=members.c.lifetime_spend_minor + bindparam("s"),
        purchase_count=members.c.purchase_count + bindparam("n"),
    )
)


class MemberRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, m: Member, idents: list[tuple[IdentifierKind, str]], given: list[Consent]) -> int:
        member_id = new_id(
            self.conn.execute(
                insert(members).values(
                    program_id=m.program_id,
                    status=str(m.status),
                    first_name=m.first_name,
                    last_name=m.last_name,
                    birthday=m.birthday,
                    gender=m.gender,
                    attributes=m.attributes,
                    tier_code=m.tier_code,
                    referral_code=m.referral_code,
                    referred_by=m.referred_by,
                    lifetime_spend_minor=0,
                    purchase_count=0,
                    enrolled_at=m.enrolled_at,
                )
            )
        )
        self.conn.execute(
            insert(member_balances).values(
                member_id=member_id, program_id=m.program_id, available=0, pending=0, held=0
            )
        )
        self.add_identifiers(m.program_id, member_id, idents)
        self.add_consents(member_id, given)
        return member_id

    def add_identifiers(
        self, program_id: int, member_id: int, idents: list[tuple[IdentifierKind, str]]
    ) -> None:
        for kind, value in idents:
            try:
                with self.conn.begin_nested():
                    self.conn.execute(
                        insert(member_identifiers).values(
                            program_id=program_id, member_id=member_id, kind=str(kind), value=value
                        )
                    )
            except IntegrityError:
                raise DuplicateIdentifier(
                    msg("this %(kind)s is already registered in the program", kind=kind),
                    kind=str(kind),
                ) from None

    def replace_identifier(
        self,
        program_id: int,
        member_id: int,
        kind: IdentifierKind,
        old: str | None,
        new: str,
    ) -> None:
        """The member's identifier ``old`` of ``kind`` gives way to ``new`` (``old`` None:
        ``new`` is added); the old value finds nobody any more. DuplicateIdentifier when
        ``new`` is another member's (nothing changed: the caller's transaction rolls back);
        one the member already has stays as it is."""
        if old == new:
            return
        if old is not None:
            c = member_identifiers.c
            self.conn.execute(
                delete(member_identifiers).where(
                    c.member_id == member_id, c.kind == str(kind), c.value == old
                )
            )
        if self.find(program_id, kind, new) != member_id:
            self.add_identifiers(program_id, member_id, [(kind, new)])

    def add_consents(self, member_id: int, given: list[Consent]) -> None:
        if given:
            self.conn.execute(
                insert(consents),
                [
                    {
                        "member_id": member_id,
                        "purpose": c.purpose,
                        "granted": c.granted,
                        "channel": c.channel,
                        "recorded_at": c.recorded_at,
                    }
                    for c in given
                ],
            )

    def find(self, program_id: int, kind: IdentifierKind, value: str) -> int | None:
        found = _FIND.rows(self.conn, {"p": program_id, "k": str(kind), "v": value})
        return int(found[0][0]) if found else None

    def remove_identifier(
        self, program_id: int, member_id: int, kind: IdentifierKind, value: str
    ) -> None:
        """The member's identifier ``value`` of ``kind`` is gone: it finds nobody any more."""
        c = member_identifiers.c
        self.conn.execute(
            delete(member_identifiers).where(
                c.program_id == program_id,
                c.member_id == member_id,
                c.kind == str(kind),
                c.value == value,
            )
        )

    def by_referral_code(self, program_id: int, code: str) -> int | None:
        return self.conn.execute(
            select(members.c.id).where(
                members.c.program_id == program_id, members.c.referral_code == code.strip().upper()
            )
        ).scalar()

    def get_for_purchase(
        self, program_id: int, member_id: int, at: datetime, now: datetime
    ) -> tuple[Member, int | None, frozenset[str]]:
        """What a purchase reads of its member, in one round trip: the member (without
        identifiers), the id of the program's rule set in force at ``at`` (None before
        the first publication) and what of the member is due at ``now`` (as
        ``LedgerRepo.due_kinds``; exact only once the member's balance row is locked)."""
        params = {"m": member_id, "p": program_id, "at": at, "t": now}
        found = _FOR_PURCHASE.mappings(self.conn, params)
        if not found:
            raise NotFoundError(msg("member %(id)s not found", id=member_id), member_id=member_id)
        m = found[0]
        due = due_names([m[f"due_{i}"] for i in range(len(DUE_EXISTS))])
        return _member(m), m["rule_set_id"], due

    def get(self, program_id: int, member_id: int, *, identifiers: bool = True) -> Member:
        row = self.conn.execute(_GET, {"m": member_id, "p": program_id}).first()
        if row is None:
            raise NotFoundError(msg("member %(id)s not found", id=member_id), member_id=member_id)
        member = _member(row._mapping)
        if not identifiers:
            return member
        idents: dict[str, list[str]] = defaultdict(list)
        c = member_identifiers.c
        for kind, value in self.conn.execute(
            select(c.kind, c.value).where(c.member_id == member_id).order_by(c.id)
        ):
            idents[kind].append(value)
        member.identifiers = dict(idents)
        return member

    def balance(self, member_id: int) -> Balance:
        row = self.conn.execute(_BALANCE, {"m": member_id}).first()
        if row is None:
            raise NotFoundError(msg("member %(id)s not found", id=member_id), member_id=member_id)
        return Balance(*row)

    def consents(self, member_id: int) -> list[Consent]:
        c = consents.c
        rows = self.conn.execute(
            select(c.purpose, c.granted, c.channel, c.recorded_at)
            .where(c.member_id == member_id)
            .order_by(c.id)
        )
        return [Consent(*r) for r in rows]

    def set_status(self, member_id: int, status: MemberStatus, reason: str | None) -> None:
        self.conn.execute(
            update(members)
            .where(members.c.id == member_id)
            .values(status=str(status), blocked_reason=reason)
        )

    def update_profile(self, member_id: int, values: dict[str, Any]) -> None:
        clean = {k: v for k, v in values.items() if k in _PROFILE}
        if clean:
            self.conn.execute(update(members).where(members.c.id == member_id).values(**clean))

    def birthday_changed_at(self, member_id: int) -> datetime | None:
        """When the member's birthday was last changed after enrollment (None: never)."""
        at: datetime | None = self.conn.execute(
            select(members.c.birthday_changed_at).where(members.c.id == member_id)
        ).scalar()
        return at

    def birthday_changed(self, member_id: int, at: datetime) -> None:
        """Record that the member's birthday changed ``at``."""
        self.conn.execute(
            update(members).where(members.c.id == member_id).values(birthday_changed_at=at)
        )

    def add_purchase_stats(self, member_id: int, spend_minor: int, purchases: int) -> None:
        ADD_PURCHASE_STATS.execute(self.conn, {"m": member_id, "s": spend_minor, "n": purchases})

    def erase(self, member_id: int, now: datetime) -> None:
        """Remove personal data; the ledger rows stay (docs/architecture.md, invariant 10)."""
        self.conn.execute(
            update(members)
            .where(members.c.id == member_id)
            .values(
                first_name=None,
                last_name=None,
                birthday=None,
                gender=None,
                attributes={},
                referral_code=None,
                erased_at=now,
            )
        )
        self.conn.execute(
            delete(member_identifiers).where(member_identifiers.c.member_id == member_id)
        )
        # the messages log keeps what was sent, not to whom: the addresses go, and what
        # was still queued is never sent
        self.conn.execute(
            update(messages)
            .where(messages.c.member_id == member_id, messages.c.status == "queued")
            .values(status="suppressed", reason="no_address")
        )
        self.conn.execute(
            update(messages)
            .where(messages.c.member_id == member_id)
            .values(address=None, address_masked=None)
        )


def _member(m: Any) -> Member:
    return Member(
        id=m["id"],
        program_id=m["program_id"],
        status=MemberStatus(m["status"]),
        enrolled_at=m["enrolled_at"],
        first_name=m["first_name"],
        last_name=m["last_name"],
        birthday=m["birthday"],
        gender=m["gender"],
        attributes=dict(m["attributes"] or {}),
        tier_code=m["tier_code"],
        tier_until=m["tier_until"],
        referral_code=m["referral_code"],
        referred_by=m["referred_by"],
        lifetime_spend_minor=m["lifetime_spend_minor"],
        purchase_count=m["purchase_count"],
        blocked_reason=m["blocked_reason"],
        erased_at=m["erased_at"],
    )
