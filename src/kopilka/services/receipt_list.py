"""The console's receipts list: filters (dates, store, channel, member, amount, whether
returned), orders by date or amount, keyset pages, and the same list streamed for a CSV
export."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypedDict

from kopilka.domain.basket import Channel
from kopilka.domain.errors import NotFoundError, ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.money import format_money
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.member_lookup import MemberRef, resolve_member
from kopilka.services.scope import StoreScope
from kopilka.store.repos.receipt_list import ListedReceipt, ReceiptFilter, ReceiptListRepo

PAGE_SIZE = 25
EXPORT_BATCH = 1000
MAX_LIMIT = 1000
SORTS = ("date", "amount")
CHANNELS = tuple(c.value for c in Channel)
# what the list filters by: "booked" (no return yet) or "returned" (at least one return,
# of part or all of it); each row says which of booked, partly returned, returned it is
STATUSES = ("booked", "returned")


@dataclass(frozen=True, slots=True)
class ReceiptQuery:
    """A receipts-list request: the filters (money in minor units of the program's
    currency; ``occurred_before`` exclusive), the order, and where a page starts
    (``after``, the opaque cursor of the previous page's last row)."""

    occurred_from: datetime | None = None
    occurred_before: datetime | None = None
    store: str | None = None
    channel: str | None = None
    member: MemberRef | None = None
    total_min: int | None = None
    total_max: int | None = None
    status: str | None = None
    sort: str = "date"
    descending: bool = True
    after: str | None = None
    limit: int = PAGE_SIZE

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValidationError(msg("sort by date or amount"), field="sort")
        if self.channel is not None and self.channel not in CHANNELS:
            raise ValidationError(msg("channel is till, web or app"), field="channel")
        if self.status is not None and self.status not in STATUSES:
            raise ValidationError(msg("status is booked or returned"), field="status")
        if self.store is not None and not 1 <= len(self.store) <= 64:
            raise ValidationError(msg("a store's code is 1 to 64 characters"), field="store")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValidationError(msg("limit must be 1 to 1000"), field="limit")


class ReceiptRow(TypedDict):
    id: int
    receipt_id: str
    member_id: int
    occurred_at: datetime
    store: str | None
    channel: str | None
    total: str
    discount: str
    points_earned: int
    points_redeemed: int
    status: str  # booked, partly_returned or returned


class ReceiptListPage(TypedDict):
    items: list[ReceiptRow]
    next: str | None  # the cursor of the next page, None on the last one


def list_receipts(
    ctx: ServiceContext, program: Program, q: ReceiptQuery, *, scope: StoreScope | None = None
) -> ReceiptListPage:
    """One page of the receipts list in the query's order; ``next`` carries on from it.
    With ``scope`` (a store-bound caller) only its store's receipts are listed. A member
    named by an identifier that nobody has is NotFoundError."""
    after = decode_cursor(q.sort, q.after) if q.after else None
    with ctx.uow(read_only=True) as uow:
        member_id = resolve_member(uow, program, q.member) if q.member else None
        if member_id is not None:
            uow.members.get(program.id, member_id, identifiers=False)  # NotFoundError
        store, no_store = q.store, False
        if scope is not None:
            if store is not None and store != scope.store:
                return {"items": [], "next": None}
            store, no_store = scope.store, scope.store is None
        f = ReceiptFilter(
            program_id=program.id,
            occurred_from=q.occurred_from,
            occurred_before=q.occurred_before,
            store=store,
            no_store=no_store,
            channel=q.channel,
            member_id=member_id,
            total_min=q.total_min,
            total_max=q.total_max,
            returned=None if q.status is None else q.status == "returned",
        )
        repo = ReceiptListRepo(uow.conn)
        found = repo.page(f, q.sort, q.descending, after, q.limit + 1)
        rows = found[: q.limit]
        returned = repo.returned_of([r.id for r in rows])
    more = len(found) > q.limit
    items: list[ReceiptRow] = []
    for r in rows:
        status = "booked"
        if r.id in returned:
            bought, back = returned[r.id]
            status = "returned" if back >= bought else "partly_returned"
        items.append(_row(r, program.currency, status))
    return {"items": items, "next": encode_cursor(q.sort, rows[-1]) if more and rows else None}


def export_receipts(
    ctx: ServiceContext, program: Program, q: ReceiptQuery, *, scope: StoreScope | None = None
) -> Iterator[ReceiptRow]:
    """Every receipt the query finds, in its order: read by keyset batches, each in a short
    read transaction, so a large export neither holds a snapshot nor memory."""
    query = replace(q, after=None, limit=EXPORT_BATCH)
    while True:
        page = list_receipts(ctx, program, query, scope=scope)
        yield from page["items"]
        if page["next"] is None:
            return
        query = replace(query, after=page["next"])


def purchase_id_of(
    ctx: ServiceContext, program: Program, receipt_id: str, *, scope: StoreScope | None = None
) -> int:
    """The id of the program's purchase booked as ``receipt_id`` (NotFoundError for none,
    and for another store's under ``scope``)."""
    with ctx.uow(read_only=True) as uow:
        repo = ReceiptListRepo(uow.conn)
        found = repo.id_of(program.id, receipt_id)
        where = repo.receipt_of(program.id, found) if found is not None else None
    if found is None or where is None or (scope is not None and not scope.covers(where[1])):
        raise NotFoundError(
            msg("purchase %(receipt_id)s not found", receipt_id=repr(receipt_id)),
            receipt_id=receipt_id,
        )
    return found


def receipt_id_of(
    ctx: ServiceContext, program: Program, purchase_id: int, *, scope: StoreScope | None = None
) -> str:
    """The receipt id of the program's purchase ``purchase_id`` (NotFoundError for none,
    and for another store's under ``scope``)."""
    with ctx.uow(read_only=True) as uow:
        found = ReceiptListRepo(uow.conn).receipt_of(program.id, purchase_id)
    if found is None or (scope is not None and not scope.covers(found[1])):
        raise NotFoundError(
            msg("purchase %(purchase_id)s not found", purchase_id=purchase_id),
            purchase_id=purchase_id,
        )
    return found[0]


def _row(r: ListedReceipt, currency: str, status: str) -> ReceiptRow:
    return {
        "id": r.id,
        "receipt_id": r.receipt_id,
        "member_id": r.member_id,
        "occurred_at": r.occurred_at,
        "store": r.store,
        "channel": r.channel,
        "total": format_money(r.total_minor, currency),
        "discount": format_money(r.discount_minor, currency),
        "points_earned": r.points_earned,
        "points_redeemed": r.points_redeemed,
        "status": status,
    }


def encode_cursor(sort: str, r: ListedReceipt) -> str:
    """The opaque cursor after row ``r`` in the given order."""
    value: str | int = r.occurred_at.isoformat() if sort == "date" else r.total_minor
    raw = json.dumps([value, r.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[datetime | int, int]:
    """The (sort key, id) pair a cursor carries, or ValidationError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, last_id = json.loads(raw)
        if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 < last_id < 2**63:
            raise ValueError
        if sort == "date":
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError
        elif not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 2**63:
            raise ValueError
    except (ValueError, TypeError, UnicodeDecodeError, AttributeError):
        raise ValidationError(msg("the page cursor is not valid"), field="after") from None
    return value, last_id


class ReturnReason(TypedDict):
    reason_code: str  # "return" for a return booked without a reason (the API's)
    note: str | None  # the operator's internal note
    member_text: str | None


def return_reasons(
    ctx: ServiceContext, program: Program, receipt_id: str, member_id: int, return_ids: list[str]
) -> dict[str, ReturnReason]:
    """Why each of a receipt's returns was made, as kept with its ledger entries, by
    return id (a return that moved no points has no entry, and no reason here)."""
    # the journal keeps 128 characters of a reference (services.purchases.process_return)
    refs = {f"{receipt_id}/{r}"[:128]: r for r in return_ids}
    with ctx.uow(read_only=True) as uow:
        found = ReceiptListRepo(uow.conn).reasons_of(program.id, member_id, list(refs))
    out: dict[str, ReturnReason] = {}
    for ref, (reason, meta) in found.items():
        code = (meta or {}).get("reason_code")
        text = (meta or {}).get("member_text")
        code = code if isinstance(code, str) else "return"
        # the entry's reason is Reason.internal(): "code: note", or the code alone
        note = (reason or "").removeprefix(f"{code}: ") if reason != code else None
        out[refs[ref]] = {
            "reason_code": code,
            "note": note or None,
            "member_text": text if isinstance(text, str) else None,
        }
    return out
