"""The console's members list: search by name, phone, e-mail or card prefix, filters,
orders and keyset pages, personal data masked for roles that do not need it, and the
same list streamed for a CSV export."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypedDict

from kopilka.domain.errors import ValidationError
from kopilka.domain.identifiers import IdentifierKind, mask, normalize_phone
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.services.apikeys import Role
from kopilka.services.context import ServiceContext
from kopilka.store.repos.member_list import ListedMember, ListFilter, MemberListRepo

PAGE_SIZE = 25
EXPORT_BATCH = 1000
MAX_LIMIT = 1000
SORTS = ("enrolled", "name", "balance")
STATUSES = ("active", "blocked")
# the roles whose work needs members' names, phones, e-mails and cards; the others (a
# marketer, an analyst) see them masked and may not export the list
PERSONAL_DATA_ROLES = frozenset({Role.SUPPORT, Role.ADMIN})
_CARD_PREFIX = re.compile(r"^[0-9A-Z-]{1,32}$")
_PHONE_PREFIX = re.compile(r"^[+\d\s().-]{1,32}$")


def sees_personal_data(role: Role) -> bool:
    """Whether a role sees members' personal data in full (and may export it)."""
    return role in PERSONAL_DATA_ROLES


@dataclass(frozen=True, slots=True)
class MemberQuery:
    """A members-list request: what to search, filter and sort by, and where a page
    starts (``after``, the opaque cursor of the previous page's last row)."""

    search: str = ""
    status: str | None = None
    tier: str | None = None
    enrolled_from: datetime | None = None
    enrolled_before: datetime | None = None
    balance_min: int | None = None
    balance_max: int | None = None
    last_purchase_before: datetime | None = None
    sort: str = "enrolled"
    descending: bool = True
    after: str | None = None
    limit: int = PAGE_SIZE

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValidationError(msg("sort by enrolled, name or balance"), field="sort")
        if self.status is not None and self.status not in STATUSES:
            raise ValidationError(msg("status is active or blocked"), field="status")
        if len(self.search) > 254:
            raise ValidationError(msg("the search is limited to 254 characters"), field="q")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValidationError(msg("limit must be 1 to 1000"), field="limit")


class MemberRow(TypedDict):
    id: int
    name: str
    card: str
    phone: str
    email: str
    status: str
    tier: str
    balance: int
    enrolled_at: datetime


class MemberListPage(TypedDict):
    items: list[MemberRow]
    next: str | None  # the cursor of the next page, None on the last one
    masked: bool


def search_filter(program: Program, q: MemberQuery) -> ListFilter:
    """The repository's filter for a query: what the search box may mean, normalised as
    identifiers are at enrollment (a phone's prefix in E.164, a card's upper-case, an
    e-mail's lower-case), and the filters as they are."""
    text = q.search.strip()
    names: str | None = None
    idents: list[tuple[str, str]] = []
    if text:
        if "@" in text:
            idents.append((IdentifierKind.EMAIL.value, text.lower()))
        else:
            # names hold letters and no digits: "c0004" is a card's beginning, not a name
            if any(ch.isalpha() for ch in text) and not any(ch.isdigit() for ch in text):
                names = text.lower()
            card = text.upper().replace(" ", "")
            if _CARD_PREFIX.match(card):
                idents.append((IdentifierKind.CARD.value, card))
            if _PHONE_PREFIX.match(text) and any(ch.isdigit() for ch in text):
                idents.append((IdentifierKind.PHONE.value, phone_prefix(text)))
            if not any(ch.isdigit() for ch in text) and "." in text:
                idents.append((IdentifierKind.EMAIL.value, text.lower()))
    return ListFilter(
        program_id=program.id,
        names=names,
        identifiers=tuple(idents),
        status=q.status,
        tier=q.tier,
        enrolled_from=q.enrolled_from,
        enrolled_before=q.enrolled_before,
        balance_min=q.balance_min,
        balance_max=q.balance_max,
        last_purchase_before=q.last_purchase_before,
    )


def phone_prefix(text: str) -> str:
    """A typed phone's start as stored phones start: the whole number through the
    identifier normaliser when it is one, else its digits after '+' (a leading 8 of a
    Russian number read as 7)."""
    try:
        return normalize_phone(text)
    except ValidationError:
        digits = re.sub(r"\D", "", text)
        if digits.startswith("8") and not text.strip().startswith("+"):
            digits = "7" + digits[1:]
        return "+" + digits


def list_members(
    ctx: ServiceContext, program: Program, q: MemberQuery, *, masked: bool
) -> MemberListPage:
    """One page of the members list in the query's order; ``next`` carries on from it."""
    after = decode_cursor(q.sort, q.after) if q.after else None
    with ctx.uow(read_only=True) as uow:
        repo = MemberListRepo(uow.conn)
        found = repo.page(search_filter(program, q), q.sort, q.descending, after, q.limit + 1)
        rows = found[: q.limit]
        idents = repo.identifiers_of([r.id for r in rows])
    more = len(found) > q.limit
    return {
        "items": [_row(r, idents.get(r.id, {}), masked) for r in rows],
        "next": encode_cursor(q.sort, rows[-1]) if more and rows else None,
        "masked": masked,
    }


def export_members(ctx: ServiceContext, program: Program, q: MemberQuery) -> Iterator[MemberRow]:
    """Every member the query finds, unmasked, in its order: read by keyset batches, each
    in a short read transaction, so a large export neither holds a snapshot nor memory."""
    query = replace(q, after=None, limit=EXPORT_BATCH)
    while True:
        page = list_members(ctx, program, query, masked=False)
        yield from page["items"]
        if page["next"] is None:
            return
        query = replace(query, after=page["next"])


def _row(r: ListedMember, idents: dict[str, str], masked: bool) -> MemberRow:
    name = " ".join(p for p in (r.first_name, r.last_name) if p)
    card = idents.get("card", "")
    phone = idents.get("phone", "")
    email = idents.get("email", "")
    if masked:
        name = " ".join(f"{p[:1]}***" for p in name.split())
        card = mask("card", card) if card else ""
        phone = mask("phone", phone) if phone else ""
        email = mask("email", email) if email else ""
    return {
        "id": r.id,
        "name": name,
        "card": card,
        "phone": phone,
        "email": email,
        "status": r.status,
        "tier": r.tier_code or "",
        "balance": int(r.available),
        "enrolled_at": r.enrolled_at,
    }


def encode_cursor(sort: str, r: ListedMember) -> str:
    """The opaque cursor after row ``r`` in the given order."""
    value: str | int | None
    if sort == "enrolled":
        value = r.enrolled_at.isoformat()
    elif sort == "name":
        value = r.last_name  # None: among the members without a last name
    else:
        value = int(r.available)
    raw = json.dumps([value, r.id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[datetime | str | int | None, int]:
    """The (sort key, id) pair a cursor carries, or ValidationError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, last_id = json.loads(raw)
        if not isinstance(last_id, int) or isinstance(last_id, bool):
            raise ValueError
        if sort == "enrolled":
            value = datetime.fromisoformat(value)
        elif sort == "name":
            if value is not None and not isinstance(value, str):
                raise ValueError
        elif not isinstance(value, int) or isinstance(value, bool):
            raise ValueError
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError(msg("the page cursor is not valid"), field="after") from None
    return value, last_id
