"""Plain records the ledger reads and writes through its port."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Account(enum.StrEnum):
    """Accounts of the chart. Member accounts hold what the program owes a member;
    program accounts are the other side of every movement."""

    AVAILABLE = "available"
    PENDING = "pending"
    HELD = "held"
    ISSUED = "issued"  # source of earned points
    REDEEMED = "redeemed"  # sink of spent points
    BREAKAGE = "breakage"  # sink of expired points
    ADJUSTMENTS = "adjustments"  # other side of manual adjustments


MEMBER_ACCOUNTS = frozenset({Account.AVAILABLE, Account.PENDING, Account.HELD})


class EntryKind(enum.StrEnum):
    EARN = "earn"
    ACTIVATE = "activate"
    REDEEM = "redeem"
    HOLD = "hold"
    CAPTURE = "capture"
    VOID = "void"
    HOLD_EXPIRE = "hold_expire"
    REVERSE = "reverse"
    EXPIRE = "expire"
    ADJUST = "adjust"
    REWARD = "reward"  # points spent on a reward of the catalog (issue 24)
    REWARD_REFUND = "reward_refund"  # a cancelled or expired reward's points given back


class DrawKind(enum.StrEnum):
    SPEND = "spend"  # redeem or hold took points from the lot
    RELEASE = "release"  # a hold gave points back (void, expiry, rest of a partial capture)
    RESTORE = "restore"  # a refund gave spent points back
    EXPIRE = "expire"  # the points expired to breakage
    CLAWBACK = "clawback"  # a return took earned points back
    REPAY = "repay"  # new points repaid a negative balance
    ADJUST = "adjust"  # a manual deduction
    REISSUE = "reissue"  # points given back to an expired lot moved to a fresh lot


# draws that say how much of a lot an entry (and its reversals) still has spent
SPENT_KINDS = frozenset({DrawKind.SPEND, DrawKind.RELEASE, DrawKind.RESTORE})


class HoldStatus(enum.StrEnum):
    ACTIVE = "active"
    CAPTURED = "captured"
    VOIDED = "voided"
    EXPIRED = "expired"


@dataclass(slots=True)
class Balance:
    member_id: int
    available: int
    pending: int
    held: int
    status: str = "active"


@dataclass(slots=True)
class Lot:
    id: int
    member_id: int
    entry_id: int
    source: str
    amount: int
    remaining: int
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None
    activated_at: datetime | None
    expired_at: datetime | None = None

    def is_expired(self, now: datetime) -> bool:
        return self.expired_at is not None or (
            self.expires_at is not None and self.expires_at <= now
        )


@dataclass(slots=True)
class Hold:
    id: int
    member_id: int
    amount: int
    status: HoldStatus
    captured: int
    reference: str | None
    created_at: datetime
    expires_at: datetime
    entry_id: int
    resolved_entry_id: int | None = None
    store: str | None = None  # where it was made: only that store's callers may end it


@dataclass(frozen=True, slots=True)
class Posting:
    account: Account
    member_id: int | None
    amount: int


@dataclass(frozen=True, slots=True)
class Draw:
    lot_id: int
    kind: DrawKind
    amount: int


@dataclass(slots=True)
class EntryDraft:
    """An entry being built; its postings must sum to zero before it is written."""

    program_id: int
    member_id: int | None
    kind: EntryKind
    points: int
    occurred_at: datetime
    postings: list[Posting] = field(default_factory=list)
    draws: list[Draw] = field(default_factory=list)
    reverses_entry_id: int | None = None
    hold_id: int | None = None
    rule_id: str | None = None
    rule_version: int | None = None
    reference: str | None = None
    reason: str | None = None
    actor: str | None = None
    meta: dict[str, Any] | None = None

    def move(self, source: Account, target: Account, amount: int, member_id: int | None) -> None:
        """Post ``amount`` points from ``source`` to ``target`` (zero-sum by construction)."""
        if amount == 0:
            return
        src_member = member_id if source in MEMBER_ACCOUNTS else None
        dst_member = member_id if target in MEMBER_ACCOUNTS else None
        self.postings.append(Posting(source, src_member, -amount))
        self.postings.append(Posting(target, dst_member, amount))


@dataclass(frozen=True, slots=True)
class Entry:
    """A journal entry as stored."""

    id: int
    program_id: int
    member_id: int | None
    kind: EntryKind
    points: int
    occurred_at: datetime
    reverses_entry_id: int | None
    hold_id: int | None
    rule_id: str | None
    rule_version: int | None
    reference: str | None
    reason: str | None
    actor: str | None
    meta: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Result:
    """What a ledger operation did: its entry and the member's balances after it."""

    entry_id: int | None
    kind: str
    points: int
    member_id: int
    available: int
    pending: int
    held: int
    hold_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "kind": str(self.kind),
            "points": self.points,
            "member_id": self.member_id,
            "balance": {"available": self.available, "pending": self.pending, "held": self.held},
            "hold_id": self.hold_id,
            "details": self.details,
        }
