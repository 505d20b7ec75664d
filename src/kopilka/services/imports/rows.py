"""The import file formats, and turning their rows into members and receipts.

Members (one row per member; empty cells mean "not given"):

=================  =====================================================================
external_id        the member's id in the source system  } at least one of these four;
card               loyalty card number                   } values are normalised as at
phone              phone number (+7 912 345-67-89, ...)  } enrollment, and each must be
email              e-mail address                        } new to the program
first_name         up to 100 characters
last_name          up to 100 characters
birthday           YYYY-MM-DD
gender             free text, e.g. female / male
enrolled_at        ISO 8601 instant with a zone (default: the time of the import)
status             active (default) or blocked
blocked_reason     why a blocked member is blocked
tier_code          the member's current tier
segments           segment codes separated by ``;``
consent_<purpose>  yes/no (true/false, 1/0) for a consent purpose, e.g. consent_sms
attr_<name>        a member attribute the rules can test, stored as text
=================  =====================================================================

Purchases (one row per receipt line; the lines of a receipt are consecutive rows with
the same ``receipt_id``; receipt-level cells may be repeated on every line or given on
the first one only, but never disagree):

===================  ===================================================================
receipt_id           the receipt's id: the idempotency key of the purchase
member_external_id   who bought: exactly one of these five
member_card
member_phone
member_email
member_id            (Kopilka's own member id)
occurred_at          ISO 8601 instant with a zone (Parquet: a timestamp)
store                store code
channel              till (default), web or app
partner              partner code, e.g. a co-brand or marketplace (the rules may test it)
payment_method       free text the rules may test (stored with the purchase, as partner)
redeemed_points      points the member paid with (receipt-level, default 0)
line_id              the line's id within the receipt
sku                  article code
category, brand      what the rules match on
quantity             decimal, default 1
amount               the line total before points, in the program currency (e.g. 199.90)
discounted           yes/no: the line was already on a discount
tags                 tags separated by ``;``
===================  ===================================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from operator import itemgetter

from kopilka.domain.basket import (
    LINE_SLOT_SETTERS,
    MAX_LINE_AMOUNT,
    MAX_QUANTITY,
    MAX_RECEIPT_AMOUNT,
    Basket,
    BasketLine,
    Channel,
    check_receipt_total,
)
from kopilka.domain.clock import ensure_utc
from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.identifiers import IdentifierKind, normalize
from kopilka.domain.ids import check_id, is_id
from kopilka.domain.member import MemberStatus
from kopilka.domain.messages import msg
from kopilka.domain.money import currency_exponent, parse_money
from kopilka.domain.program import Program
from kopilka.services.imports.files import Cells
from kopilka.services.members import clean_profile

IDENTIFIER_COLUMNS = {
    "external_id": IdentifierKind.EXTERNAL,
    "card": IdentifierKind.CARD,
    "phone": IdentifierKind.PHONE,
    "email": IdentifierKind.EMAIL,
}
MEMBER_COLUMNS = (
    *IDENTIFIER_COLUMNS,
    "first_name",
    "last_name",
    "birthday",
    "gender",
    "enrolled_at",
    "status",
    "blocked_reason",
    "tier_code",
    "segments",
)
MEMBER_PREFIXES = ("consent_", "attr_")

MEMBER_REF_COLUMNS = {
    "member_external_id": "external",
    "member_card": "card",
    "member_phone": "phone",
    "member_email": "email",
    "member_id": "id",
}
RECEIPT_COLUMNS = (
    "receipt_id",
    *MEMBER_REF_COLUMNS,
    "occurred_at",
    "store",
    "channel",
    "partner",
    "payment_method",
    "redeemed_points",
)
LINE_COLUMNS = ("line_id", "sku", "category", "brand", "quantity", "amount", "discounted", "tags")
PURCHASE_COLUMNS = (*RECEIPT_COLUMNS, *LINE_COLUMNS)
PURCHASE_REQUIRED = ("receipt_id", "occurred_at", "line_id", "sku", "amount")

_TRUE = {"1", "yes", "y", "true", "t", "да"}
_FALSE = {"0", "no", "n", "false", "f", "нет"}
# one receipt's rows as the reader gives them: ``(file line, cells)``
Rows = list[tuple[int, Cells]]
# named cells of a row (free-form: what the file holds)
Fields = Mapping[str, object]


# -- the shape of a cell (what the API's schema checks of a body; the same rules and
# messages, so a row and a request are refused alike) ---------------------------------------
_ASCII_QUANTITY = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def text(data: Fields, name: str, *, required: bool = False, limit: int = 64) -> str | None:
    """The cell ``name`` as trimmed text of 1-``limit`` characters; ``None`` when empty and
    not ``required``."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ValidationError(msg("%(name)s is required", name=name), field=name)
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationError(msg("%(name)s must be text", name=name), field=name)
    value = str(value).strip()
    if not value or len(value) > limit:
        raise ValidationError(
            msg("%(name)s must be 1-%(max)s characters", name=name, max=limit), field=name
        )
    return value


def ident(data: Fields, name: str, *, required: bool = False) -> str | None:
    """An id the file chose (receipt, line, store), trimmed, in the one grammar of
    :mod:`kopilka.domain.ids`; ``None`` when absent and not ``required``."""
    value = text(data, name, required=required)
    return None if value is None else check_id(value, name)


def quantity(value: object, field: str) -> Decimal:
    """A positive quantity below :data:`MAX_QUANTITY` with at most 3 decimals; text must
    be ASCII digits (``Decimal`` alone would read "١٢" as 12)."""
    if isinstance(value, str) and not _ASCII_QUANTITY.fullmatch(value.strip()):
        raise ValidationError(
            msg("%(field)s must be a decimal number in ASCII digits", field=field), field=field
        )
    try:
        q = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError(msg("%(field)s is not a number", field=field), field=field) from None
    if not q.is_finite() or q <= 0 or q >= MAX_QUANTITY or q != q.quantize(Decimal("0.001")):
        raise ValidationError(
            msg(
                "%(field)s must be a positive number below %(max)s with at most 3 decimals",
                field=field,
                max=MAX_QUANTITY,
            ),
            field=field,
        )
    return q


def line_amount(value: object, currency: str, field: str) -> int:
    """A line's amount in minor units: :func:`parse_money`, and below
    :data:`MAX_LINE_AMOUNT` units of the currency."""
    if not isinstance(value, str | int | Decimal):  # a Parquet cell of another type
        try:  # what parse_money does with it
            value = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise ValidationError(
                msg("%(field)s is not a decimal number", field=field), field=field
            ) from None
    minor = parse_money(value, currency, field=field)
    if minor >= MAX_LINE_AMOUNT.scaleb(currency_exponent(currency)):
        raise ValidationError(
            msg(
                "%(field)s must be below %(max)s %(currency)s a line",
                field=field,
                max=MAX_LINE_AMOUNT,
                currency=currency,
            ),
            field=field,
        )
    return minor


# a receipt whose lines together cost MAX_RECEIPT_AMOUNT or more is refused, as the API does
check_total = check_receipt_total


def instant(value: object, field: str, now: datetime) -> datetime:
    """An instant with a zone (a ``datetime`` or ISO 8601 text), at most 5 minutes after
    ``now``; ``now`` when ``None``."""
    if value is None:
        return now
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        at = ensure_utc(at)
    except ValueError:
        raise ValidationError(
            f"{field} must be an ISO 8601 time with a zone", field=field
        ) from None
    if at > now + timedelta(minutes=5):
        raise ValidationError(f"{field} is in the future", field=field)
    return at


def points_field(data: Fields, name: str) -> int:
    """A whole number of points, 0 to 10^9 (absent: 0)."""
    value = data.get(name) or 0
    if isinstance(value, bool) or not isinstance(value, int) or not (0 <= value <= 10**9):
        raise ValidationError(f"{name} must be a whole number of points (0-10^9)", field=name)
    return value


def basket(data: Fields, lines: list[dict[str, object]], program: Program, now: datetime) -> Basket:
    """A Basket from a receipt's cells and its lines' cells, checked as the API checks a
    purchase body (the field of an error is ``lines[i].<cell>`` for a line's cell)."""
    if not lines:
        raise ValidationError("a purchase needs at least one line", field="lines")
    out = []
    for i, raw in enumerate(lines):
        tags = raw.get("tags") or []
        if not isinstance(tags, list) or len(tags) > 20:
            raise ValidationError(f"lines[{i}].tags must be a list", field=f"lines[{i}].tags")
        out.append(
            BasketLine(
                line_id=ident(raw, "line_id", required=True) or "",
                sku=text(raw, "sku", required=True) or "",
                quantity=quantity(raw.get("quantity", 1), f"lines[{i}].quantity"),
                amount_minor=line_amount(
                    raw.get("amount", ""), program.currency, f"lines[{i}].amount"
                ),
                category=text(raw, "category") or "",
                brand=text(raw, "brand") or "",
                discounted=bool(raw.get("discounted", False)),
                tags=frozenset(str(t)[:64] for t in tags),
            )
        )
    raw_channel = data.get("channel") or "till"
    channel = _CHANNELS.get(raw_channel) if isinstance(raw_channel, str) else None
    if channel is None:
        raise ValidationError("channel must be till, web or app", field="channel")
    check_total(sum(ln.amount_minor for ln in out), program.currency)
    return Basket(
        lines=tuple(out),
        occurred_at=instant(data.get("occurred_at"), "occurred_at", now),
        store=text(data, "store"),
        channel=channel,
        partner=text(data, "partner"),
        payment_method=text(data, "payment_method"),
    )


# Channel(value) for the channels' own values, without the enum call's Python frames
_CHANNELS: dict[object, Channel] = {c.value: c for c in Channel}
_NEW = object.__new__


# a line from values a bulk reader has already validated as :func:`basket` would (``qty``
# from :func:`quantity`): the domain's cheap constructor, which still checks the invariants
trusted_line = BasketLine.trusted


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row (or receipt, at its first line): where, what and why."""

    line: int
    key: str
    code: str
    field: str
    message: str

    @classmethod
    def of(cls, line: int, key: str, err: KopilkaError) -> RowError:
        """The row error of a domain error raised for ``line``."""
        return cls(line, key, err.code, str(err.details.get("field") or ""), err.message)


def flag(value: object, name: str) -> bool:
    """A yes/no cell (a Parquet boolean, or yes/no, true/false, 1/0, да/нет)."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValidationError(f"{name} must be yes or no", field=name)


def _cell(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


# -- members ----------------------------------------------------------------------------------
@dataclass(slots=True)
class MemberRow:
    """A member row, validated: identifiers, profile, enrollment time, status, consents."""

    line: int
    identifiers: list[tuple[IdentifierKind, str]]
    profile: dict[str, object]
    enrolled_at: datetime
    status: MemberStatus
    blocked_reason: str | None
    consents: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The row's identifiers as the rejects file names them (``kind:value,...``)."""
        return ",".join(f"{k}:{v}" for k, v in self.identifiers)


def member_columns(columns: tuple[str, ...]) -> tuple[str, ...]:
    """The columns to read from a members file: the fixed ones and its prefixed ones."""
    return MEMBER_COLUMNS + tuple(c for c in columns if c.startswith(MEMBER_PREFIXES))


def parse_member(names: tuple[str, ...], values: Cells, line: int, now: datetime) -> MemberRow:
    """A member row, validated like an enrollment; raises ValidationError naming the field."""
    row = {n: _cell(v) for n, v in zip(names, values, strict=True) if v is not None and v != ""}
    idents = [
        (kind, normalize(kind, str(row[col])))
        for col, kind in IDENTIFIER_COLUMNS.items()
        if col in row
    ]
    if not idents:
        raise ValidationError(
            "a member needs an external_id, card, phone or email", field="external_id"
        )
    attrs: dict[str, object] = {n[5:]: str(v) for n, v in row.items() if n.startswith("attr_")}
    if "segments" in row:
        attrs["segments"] = [s.strip() for s in str(row["segments"]).split(";") if s.strip()]
    profile = clean_profile(
        {
            "first_name": row.get("first_name"),
            "last_name": row.get("last_name"),
            "birthday": _date(row.get("birthday")),
            "gender": _short(row.get("gender"), "gender", 16),
            "tier_code": _short(row.get("tier_code"), "tier_code", 64),
            "attributes": attrs,
        }
    )
    status_word = str(row.get("status") or "active").lower()
    try:
        status = MemberStatus(status_word)
    except ValueError:
        raise ValidationError("status must be active or blocked", field="status") from None
    reason = _short(row.get("blocked_reason"), "blocked_reason", 500)
    if status == MemberStatus.BLOCKED and not reason:
        reason = "blocked in the imported data"
    enrolled = instant(row["enrolled_at"], "enrolled_at", now) if "enrolled_at" in row else now
    consents = [
        (n[8:], flag(v, n)) for n, v in row.items() if n.startswith("consent_") and len(n) > 8
    ]
    return MemberRow(line, idents, profile, enrolled, status, reason, consents)


def _date(value: object) -> object:
    if value is None or isinstance(value, date):
        return value
    return str(value)


def _short(value: object, name: str, limit: int) -> str | None:
    if value is None:
        return None
    out = str(value)
    if len(out) > limit:
        raise ValidationError(f"{name} must be at most {limit} characters", field=name)
    return out


# -- purchases --------------------------------------------------------------------------------
@dataclass(slots=True)
class Receipt:
    """The lines of one receipt, parsed into the body ``services.purchases.commit`` takes."""

    receipt_id: str
    line: int  # where the receipt starts
    ref: tuple[str, str]  # (identifier kind or "id", normalised value)
    basket: Basket
    redeem: int
    end: int  # index of the first row after the receipt (the checkpoint once booked)
    member_id: int = 0


_R = {n: i for i, n in enumerate(PURCHASE_COLUMNS)}
_RECEIPT_IDX = [(_R[n], n) for n in RECEIPT_COLUMNS[1:]]
_LINE_IDX = [(_R[n], n) for n in LINE_COLUMNS]


def parse_receipt(
    receipt_id: str,
    rows: Rows,
    end: int,
    program: Program,
    now: datetime,
) -> Receipt:
    """One receipt from its rows ``(line, values)`` in :data:`PURCHASE_COLUMNS` order.

    Raises :class:`ValidationError` whose ``line`` detail names the offending row.
    """
    first_line = rows[0][0]
    head: dict[str, object] = {}
    lines: list[dict[str, object]] = []
    for line, values in rows:
        for i, name in _RECEIPT_IDX:
            v = _cell(values[i])
            if v is None or v == "":
                continue
            if name in head and head[name] != v:
                raise ValidationError(
                    f"{name} differs between the lines of receipt {receipt_id}",
                    field=name,
                    line=line,
                )
            head[name] = v
        cells = {name: _cell(values[i]) for i, name in _LINE_IDX if values[i] is not None}
        if "discounted" in cells:
            cells["discounted"] = flag(cells["discounted"], "discounted")
        if "tags" in cells:
            cells["tags"] = [t.strip() for t in str(cells["tags"]).split(";") if t.strip()]
        lines.append(cells)
    refs = [(MEMBER_REF_COLUMNS[n], str(head[n])) for n in MEMBER_REF_COLUMNS if n in head]
    if len(refs) != 1:
        raise ValidationError(
            "name the member by exactly one of member_external_id, member_card, member_phone, "
            "member_email or member_id",
            field="member_external_id",
            line=first_line,
        )
    kind, value = refs[0]
    if kind == "id":
        if not value.isdigit() or int(value) <= 0:
            raise ValidationError("member_id must be a positive integer", field="member_id")
        ref = ("id", value)
    else:
        ref = (kind, normalize(kind, value))
    redeemed = head.get("redeemed_points")
    if redeemed is not None and not isinstance(redeemed, int):
        if not str(redeemed).isdigit():
            raise ValidationError(
                "redeemed_points must be a whole number of points", field="redeemed_points"
            )
        redeemed = int(str(redeemed))
    at = head.get("occurred_at")
    if isinstance(at, datetime) and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    body: dict[str, object] = {
        "receipt_id": receipt_id,
        "occurred_at": at,
        "store": head.get("store"),
        "channel": head.get("channel"),
        "partner": head.get("partner"),
        "payment_method": head.get("payment_method"),
        "redeem_points": redeemed,
    }
    ident(body, "receipt_id", required=True)
    if at is None:
        raise ValidationError("occurred_at is required", field="occurred_at")
    for ln in lines:
        if isinstance(ln.get("amount"), float):
            raise ValidationError("amount must be a decimal or text, not a float", field="amount")
        q = ln.get("quantity")
        if isinstance(q, Decimal | int):
            ln["quantity"] = str(q)
    try:
        checked = basket(body, lines, program, now)
    except ValidationError as e:
        line_at = _line_of(e, rows)
        if line_at is not None:
            e.details["line"] = line_at
        raise
    return Receipt(receipt_id, first_line, ref, checked, points_field(body, "redeem_points"), end)


_REF_IDX = [(_R[n], kind) for n, kind in MEMBER_REF_COLUMNS.items()]


def receipt_ref(rows: Rows) -> tuple[str, str] | None:
    """Who a receipt's rows name, read as :func:`parse_receipt` reads it (the same ``ref``
    for every receipt it accepts), without parsing the rest; None where it would refuse
    the member cells (none, several, differing between lines, not an identifier)."""
    found: tuple[str, str] | None = None
    for i, kind in _REF_IDX:
        value: object = None
        for _, values in rows:
            v = _cell(values[i])
            if v is None or v == "":
                continue
            if value is not None and v != value:
                return None
            value = v
        if value is not None:
            if found is not None:
                return None
            found = (kind, str(value))
    if found is None:
        return None
    kind, value = found
    if kind == "id":
        return found if value.isdigit() and int(value) > 0 else None
    try:
        return (kind, normalize(kind, value))
    except ValidationError:
        return None


def _line_of(err: ValidationError, rows: Rows) -> int | None:
    """The file line of a ``lines[i]...`` field named by :func:`basket`."""
    fld = str(err.details.get("field") or "")
    if fld.startswith("lines[") and "]" in fld:
        i = int(fld[6 : fld.index("]")])
        if 0 <= i < len(rows):
            return rows[i][0]
    return None


# -- the fast path ----------------------------------------------------------------------------
_ONE = Decimal(1)
_NO_TAGS: frozenset[str] = frozenset()
_CACHE_LIMIT = 100_000
_HEAD = tuple(range(1, len(RECEIPT_COLUMNS)))
# a line's cells: line_id, sku, category, brand, quantity, amount, discounted, tags
_LINE_CELLS = itemgetter(*(_R[n] for n in LINE_COLUMNS))


class FastReceipts:
    """:func:`parse_receipt` for the common case, several times cheaper.

    :meth:`receipt` returns exactly the :class:`Receipt` that :func:`parse_receipt` would
    return for the same rows, or ``None`` whenever it is not sure that the receipt is
    valid (a conflicting cell, an unusual number format, a value out of range, anything
    that raises): the caller then runs :func:`parse_receipt`, which books or reports the
    receipt exactly as before. It never reports an error itself. Amounts in plain decimal
    notation are parsed without ``Decimal``; quantities and member identifiers, which
    repeat, are validated once per distinct value and remembered.
    """

    def __init__(self, program: Program, now: datetime) -> None:
        self.program = program
        self.now = now
        self.exp = currency_exponent(program.currency)
        self.scale = 10**self.exp
        # the bounds of basket() in minor units: a receipt beyond them goes the checked way
        self.max_line = int(MAX_LINE_AMOUNT) * self.scale
        self.max_receipt = int(MAX_RECEIPT_AMOUNT) * self.scale
        self.quantities: dict[str, Decimal] = {}
        self.refs: dict[tuple[str, str], tuple[str, str]] = {}

    def receipt(self, receipt_id: str, rows: Rows, end: int) -> Receipt | None:
        """The receipt :func:`parse_receipt` would return, or None when not sure of it."""
        try:
            return self._receipt(receipt_id, rows, end)
        except Exception:  # anything unusual goes the checked way
            return None

    def _receipt(self, receipt_id: str, rows: Rows, end: int) -> Receipt | None:
        head: dict[str, object] = {}
        cols = tuple(zip(*[values for _, values in rows], strict=True))
        for i in _HEAD:
            col = cols[i]
            v = col[-1]
            if col.count(v) == len(col):
                # the same cell on every line (or on none): what the loop below keeps
                if type(v) is str:
                    v = v.strip()
                    if not v:
                        continue
                elif v is None:
                    continue
                head[RECEIPT_COLUMNS[i]] = v
                continue
            v = None
            for cell in col:
                if cell is None:
                    continue
                c = cell.strip() if type(cell) is str else cell
                if type(c) is str and not c:
                    continue
                if v is not None and c != v:
                    return None  # parse_receipt names the line where they differ
                v = c  # the last of equal values, as parse_receipt keeps it
            if v is not None:
                head[RECEIPT_COLUMNS[i]] = v
        refs = [(MEMBER_REF_COLUMNS[n], str(head[n])) for n in MEMBER_REF_COLUMNS if n in head]
        if len(refs) != 1:
            return None
        ref = self.refs.get(refs[0])
        if ref is None:
            kind, value = refs[0]
            if kind == "id":
                if not value.isdigit() or int(value) <= 0:
                    return None
                ref = ("id", value)
            else:
                ref = (kind, normalize(kind, value))
            if len(self.refs) < _CACHE_LIMIT:
                self.refs[refs[0]] = ref
        redeemed = head.get("redeemed_points")
        if redeemed is not None and not isinstance(redeemed, int):
            if not str(redeemed).isdigit():
                return None
            redeemed = int(str(redeemed))
        at = head.get("occurred_at")
        if at is None:
            return None
        if isinstance(at, datetime) and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        body: dict[str, object] = {
            "receipt_id": receipt_id,
            "store": head.get("store"),
            "partner": head.get("partner"),
            "payment_method": head.get("payment_method"),
            "redeem_points": redeemed,
        }
        ident(body, "receipt_id", required=True)
        lines = []
        for _, values in rows:
            line = self._line(values)
            if line is None:
                return None
            lines.append(line)
        if sum(ln.amount_minor for ln in lines) >= self.max_receipt:
            return None
        basket = Basket(
            lines=tuple(lines),
            occurred_at=instant(at, "occurred_at", self.now),
            store=text(body, "store"),
            channel=_CHANNELS[head.get("channel") or "till"],  # KeyError: the checked way
            partner=text(body, "partner"),
            payment_method=text(body, "payment_method"),
        )
        return Receipt(
            receipt_id, rows[0][0], ref, basket, points_field(body, "redeem_points"), end
        )

    def _line(self, values: Cells) -> BasketLine | None:
        line_id, sku, category, brand, q, a, d, t = _LINE_CELLS(values)
        if type(line_id) is not str or type(sku) is not str:
            return None
        line_id, sku = line_id.strip(), sku.strip()
        if not is_id(line_id) or not 0 < len(sku) <= 64:
            return None
        if category is None:
            category = ""
        elif type(category) is str:
            category = category.strip()
            if len(category) > 64:
                return None
        else:
            return None
        if brand is None:
            brand = ""
        elif type(brand) is str:
            brand = brand.strip()
            if len(brand) > 64:
                return None
        else:
            return None
        if q is None:
            qty = _ONE
        else:
            if type(q) is str:
                q = q.strip()
            elif type(q) is Decimal or type(q) is int:
                q = str(q)
            else:
                return None
            qty = self.quantities.get(q)  # type: ignore[assignment]
            if qty is None:
                qty = quantity(q, "quantity")
                if len(self.quantities) < _CACHE_LIMIT:
                    self.quantities[q] = qty
        if type(a) is str:
            # the pattern [0-9]{1,12}(\.[0-9]{1,exp})? in plain string operations
            digits = a.strip()
            whole, dot, frac = digits.partition(".")
            if not (0 < len(whole) <= 12 and digits.isascii() and whole.isdigit()):
                return None
            amount = int(whole) * self.scale
            if dot:
                if not (0 < len(frac) <= self.exp and frac.isdigit()):
                    return None
                amount += int(frac.ljust(self.exp, "0"))
        elif type(a) is Decimal or type(a) is int:
            amount = parse_money(a, self.program.currency)
        else:
            return None
        discounted = False if d is None else bool(flag(_cell(d), "discounted"))
        if t is None:
            tags = _NO_TAGS
        else:
            tag_list = [x.strip() for x in str(_cell(t)).split(";") if x.strip()]
            if len(tag_list) > 20:
                return None
            tags = frozenset(x[:64] for x in tag_list)
        if amount >= self.max_line:
            return None
        # every invariant of BasketLine holds by now (ids 1-64 characters, quantity from
        # quantity(), amount a non-negative int within bounds, discounted a bool, tags a
        # frozenset): build it as trusted_line does, without checking it all again
        out = _NEW(BasketLine)
        s0, s1, s2, s3, s4, s5, s6, s7 = LINE_SLOT_SETTERS
        s0(out, line_id)
        s1(out, sku)
        s2(out, qty)
        s3(out, amount)
        s4(out, category)
        s5(out, brand)
        s6(out, discounted)
        s7(out, tags)
        return out
