"""Purchases: a basket to quote or commit, a return, and what the server answers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from kopilka.api.schemas.common import (
    MAX_POINTS,
    Card,
    Code,
    Email,
    External,
    Id,
    Ident,
    Input,
    Instant,
    LineAmount,
    MoneyText,
    Phone,
    Quantity,
    ReceiptAmount,
    Whole,
    refuse_nulls,
)
from kopilka.api.schemas.points import Balances
from kopilka.domain.basket import (
    MAX_RECEIPT_AMOUNT,
    Basket,
    BasketLine,
    Channel,
    check_occurred_at,
    check_receipt_total,
)
from kopilka.domain.coupons import MAX_COUPONS
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.money import parse_money
from kopilka.domain.program import Program
from kopilka.domain.rules.payments import MAX_PAYMENTS, MAX_PROMO_CODES
from kopilka.services import member_lookup
from kopilka.services.purchases import (
    AsWritten,
    BookPurchase,
    ProcessReturn,
    QuotePurchase,
    ReturnLine,
)
from kopilka.services.rules import PreviewPurchase

MAX_LINES = 1000
PromoCodeIn = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]


_IDENTIFIERS = ("card", "phone", "email", "external")


# a coupon's code as a till scans it (checked against the issued rewards when it is used)
CouponCodeIn = Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9 _-]+$")]


class MemberRef(Input):
    """Exactly one identifier, as a till scans it (normalised as at enrollment)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    card: Card | SkipJsonSchema[None] = None
    phone: Phone | SkipJsonSchema[None] = None
    email: Email | SkipJsonSchema[None] = None
    external: External | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return refuse_nulls(data, _IDENTIFIERS)

    @model_validator(mode="after")
    def _exactly_one(self) -> MemberRef:
        if len(self.model_dump(exclude_none=True)) != 1:
            raise ValueError("give exactly one identifier: card, phone, email or external")
        return self


class ForMember(Input):
    """A body that names its member by ``member_id`` or by ``member`` (one identifier)."""

    # exactly one of the two, as the schema can say it (neither may be null)
    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["member_id"]}, {"required": ["member"]}]}
    )

    member_id: Id | SkipJsonSchema[None] = None
    member: MemberRef | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return refuse_nulls(data, ("member_id", "member"))

    @model_validator(mode="after")
    def _one_member(self) -> ForMember:
        if (self.member_id is None) == (self.member is None):
            raise ValueError("name the member by member_id or by member, not both")
        return self

    def member_ref(self) -> member_lookup.MemberRef:
        """The member the body names, as the use cases take it."""
        if self.member is None:
            return member_lookup.MemberRef(member_id=self.member_id)
        ((kind, value),) = self.member.model_dump(exclude_none=True).items()
        return member_lookup.MemberRef(identifier=(IdentifierKind(kind), value))


class LineIn(Input):
    line_id: Ident
    sku: Code
    quantity: Quantity = Decimal(1)
    amount: LineAmount = Field(description="the line total before points")
    category: Code | None = None
    brand: Code | None = None
    discounted: bool = Field(default=False, strict=True)
    tags: list[Code] = Field(default_factory=list, max_length=20)


class PaymentIn(Input):
    tender: Literal["card", "cash", "sbp", "gift_card", "e_wallet", "points", "other"] = Field(
        description="how this part was paid; the part paid with points never earns"
    )
    amount: ReceiptAmount


class BasketIn(ForMember):
    """A basket as the quote and purchase bodies share it."""

    occurred_at: Instant | None = Field(default=None, description="default: now")
    store: Ident | None = Field(
        default=None,
        description="the key's own store; only an unbound admin key names another "
        "(403 outside_key_scope otherwise)",
    )
    channel: Literal["till", "web", "app"] | None = Field(
        default=None,
        description="till for a pos key, web for an ecommerce key (403 outside_key_scope "
        "for another); an admin key's default: till",
    )
    partner: Code | None = None
    payment_method: Code | None = Field(
        default=None,
        description="default with payments: the tender that paid the most",
    )
    payments: list[PaymentIn] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PAYMENTS,
        description="how the receipt was paid: the money tenders add up to the lines' total "
        "less order_discount and the points discount; a points payment, if listed, equals "
        "the points discount. Rules may earn on some tenders' part only",
    )
    promo_codes: list[PromoCodeIn] = Field(
        default_factory=list,
        max_length=MAX_PROMO_CODES,
        description="codes that unlock rules; an unknown, expired or used-up code is refused "
        "(422 promo_code_invalid); a use is counted when the purchase is booked and given "
        "back when it is returned whole",
    )
    order_discount: ReceiptAmount | None = Field(
        default=None,
        description="the shop's own discount on the whole order: spread over the lines in "
        "proportion to their amounts, which then earn on what is left",
    )
    coupons: list[CouponCodeIn] = Field(
        default_factory=list,
        max_length=MAX_COUPONS,
        description="codes of the member's issued coupons and vouchers: each one's discount "
        "is spread over its lines exactly (after the order discount, before points); one "
        "that cannot be used (unknown, used, expired, another member's, under its minimum "
        "basket...) is refused with 422 coupon_invalid and details.reason, nothing booked; "
        "the commit marks them used",
    )
    lines: list[LineIn] = Field(
        min_length=1,
        max_length=MAX_LINES,
        description=f"the lines of a receipt must total below {MAX_RECEIPT_AMOUNT}",
    )

    def to_basket(
        self, program: Program, now: datetime, *, store: str | None, channel: str
    ) -> Basket:
        """The basket the body describes, at ``store`` in ``channel`` (the caller's, as
        the router placed it). The schema has checked the shape; what is left are the
        program's rules: the currency's decimals, the receipt's total, a time not in the
        future (ValidationError, 422)."""
        currency = program.currency
        trusted = BasketLine.trusted
        lines = tuple(
            [
                trusted(
                    ln.line_id,
                    ln.sku,
                    ln.quantity,
                    parse_money(ln.amount, currency, field=f"lines[{i}].amount"),
                    ln.category or "",
                    ln.brand or "",
                    ln.discounted,
                    frozenset(ln.tags),
                )
                for i, ln in enumerate(self.lines)
            ]
        )
        check_receipt_total(sum(ln.amount_minor for ln in lines), currency)
        at = now if self.occurred_at is None else check_occurred_at(self.occurred_at, now)
        payments = tuple(
            (p.tender, parse_money(p.amount, currency, field=f"payments[{i}].amount"))
            for i, p in enumerate(self.payments or ())
        )
        order_discount = (
            0
            if self.order_discount is None
            else parse_money(self.order_discount, currency, field="order_discount")
        )
        return Basket(
            lines=lines,
            occurred_at=at,
            store=store,
            channel=Channel(channel),
            partner=self.partner,
            payment_method=self.payment_method,
            payments=payments,
            promo_codes=frozenset(code.upper() for code in self.promo_codes),
            order_discount_minor=order_discount,
            coupons=tuple(self.coupons),
        )

    def to_preview(self, program: Program, now: datetime) -> PreviewPurchase:
        """The basket as a rules preview takes it (at the body's store and channel)."""
        basket = self.to_basket(program, now, store=self.store, channel=self.channel or "till")
        return PreviewPurchase(self.member_ref(), basket)

    def as_written(self) -> AsWritten:
        """What the body said that the basket keeps in a canonical form (the fingerprint's)."""
        return AsWritten(
            amounts=tuple([ln.amount for ln in self.lines]),
            tags=tuple([tuple(ln.tags) for ln in self.lines]),
            stamped=self.occurred_at is not None,
        )


class QuoteRequest(BasketIn):
    # the member as ForMember says it, and never both ways of paying with points
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [{"required": ["member_id"]}, {"required": ["member"]}],
            "not": {"required": ["redeem_points", "redeem_amount"]},
        }
    )

    redeem_points: Annotated[int, Field(strict=True, ge=0, le=MAX_POINTS), Whole] = Field(
        default=0, description="points to pay with"
    )
    redeem_amount: LineAmount | SkipJsonSchema[None] = Field(
        default=None,
        description="money to pay with points instead of redeem_points (not both): the "
        "server works out the points, rounded up to the program's redemption step and "
        "capped by its limits, and answers them with their discount",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_null_amount(cls, data: Any) -> Any:
        return refuse_nulls(data, ("redeem_amount",))

    @model_validator(mode="after")
    def _points_or_amount(self) -> QuoteRequest:
        if self.redeem_amount is not None and "redeem_points" in self.model_fields_set:
            raise ValueError("give redeem_points or redeem_amount, not both")
        return self

    def redeem_amount_minor(self, program: Program) -> int | None:
        """The money to pay with points, in minor units (None: pay ``redeem_points``)."""
        if self.redeem_amount is None:
            return None
        return parse_money(self.redeem_amount, program.currency, field="redeem_amount")

    def to_command(
        self, program: Program, now: datetime, *, store: str | None, channel: str
    ) -> QuotePurchase:
        """The quote the body asks for (:meth:`BasketIn.to_basket`)."""
        return QuotePurchase(
            self.member_ref(),
            self.to_basket(program, now, store=store, channel=channel),
            self.redeem_points,
            self.redeem_amount_minor(program),
        )


class PurchaseCreate(QuoteRequest):
    receipt_id: Ident = Field(description="one purchase per receipt id in the program")
    hold_id: Id | None = Field(
        default=None,
        description="capture this hold as the payment (all of it unless redeem_points is given)",
    )

    def to_command(  # type: ignore[override]
        self, program: Program, now: datetime, *, store: str | None, channel: str
    ) -> BookPurchase:
        """The purchase the body asks to book (:meth:`BasketIn.to_basket`)."""
        return BookPurchase(
            self.receipt_id,
            self.member_ref(),
            self.to_basket(program, now, store=store, channel=channel),
            self.redeem_points,
            self.hold_id,
            self.as_written(),
            self.redeem_amount_minor(program),
        )


class ReturnLineIn(Input):
    line_id: Ident
    quantity: Quantity | None = Field(default=None, description="default: what is left of it")


class ReturnCreate(Input):
    return_id: Ident = Field(description="one return per id and receipt")
    lines: list[ReturnLineIn] | None = Field(
        default=None, min_length=1, max_length=MAX_LINES, description="absent: a full return"
    )

    def to_command(self, receipt_id: str) -> ProcessReturn:
        """The return the body asks for, of purchase ``receipt_id``."""
        lines = self.lines
        return ProcessReturn(
            receipt_id,
            self.return_id,
            None if lines is None else tuple([ReturnLine(x.line_id, x.quantity) for x in lines]),
        )


class LineAward(BaseModel):
    rule_id: str
    points: int
    description: str


class QuotedLine(BaseModel):
    line_id: str
    sku: str
    amount: MoneyText
    discount: MoneyText = Field(description="paid with points")
    points_redeemed: int
    points_earned: int
    awards: list[LineAward]


class CouponAppliedOut(BaseModel):
    code: str
    discount: str
    lines: dict[str, str] = Field(description="the discount's parts by line id (exact)")


class QuotePublic(BaseModel):
    """What the basket would earn and what points could pay; nothing is written."""

    member_id: int
    available: int = Field(
        description="the member's available points as of now: points whose lot expired "
        "or activated since the member's last operation are counted as such"
    )
    max_redeemable: int = Field(description="the most points that can pay for this basket")
    redeem_points: int = Field(
        description="the points to pay with: as asked, or those worked out for redeem_amount"
    )
    discount: MoneyText = Field(description="what redeem_points pay of the basket")
    points_earned: int
    rule_version: int | None
    lines: list[QuotedLine]
    control_group: list[str] = Field(description="pilot rules the member is held out of")
    coupons: list[CouponAppliedOut] = Field(
        default_factory=list, description="each coupon's discount and its parts by line"
    )


class PurchaseResult(BaseModel):
    receipt_id: str
    member_id: int
    total: MoneyText
    discount: MoneyText
    to_pay: MoneyText
    points_redeemed: int
    points_earned: int
    rule_version: int | None
    earn_entry_id: int | None
    redeem_entry_id: int | None
    lines: list[QuotedLine]
    balance: Balances
    coupons: list[CouponAppliedOut] = Field(
        default_factory=list, description="the coupons used: each one's discount by line"
    )


class ReturnedLine(BaseModel):
    line_id: str
    quantity: str = Field(description="a decimal string")
    points_clawed_back: int = Field(description="earned points of the line taken back")
    points_restored: int = Field(description="spent points of the line given back")
    forgiven: int = Field(0, description="the line's share of the return's forgiven points")
    expired_at_once: int = Field(
        0, description="the line's share of the restored points that expired at once"
    )
    refund: MoneyText


class ReturnResult(BaseModel):
    receipt_id: str
    return_id: str
    member_id: int
    points_clawed_back: int = Field(
        description="earned points taken back: exactly what left the member's balance "
        "(with the debt policy, including what made the balance negative)"
    )
    points_restored: int = Field(
        description="spent points given back, including those that expired at once"
    )
    expired_at_once: int = Field(
        0,
        description="of the restored points, those whose lot had expired by the return: "
        "under the restore policy 'expire' (the default) they expire at once, so the "
        "balance rises by points_restored - expired_at_once",
    )
    refund: MoneyText
    forgiven: int = Field(
        description="earned points the return should have taken back but that were no "
        "longer in the balance (spent or expired): forgiven (policy 'forgive'), not taken"
    )
    debt: int = Field(description="of points_clawed_back, those taken below zero (policy 'debt')")
    lines: list[ReturnedLine]
    balance: Balances
    coupons_given_back: list[str] = Field(
        default_factory=list,
        description="codes of the coupons this return gave back (the program's setting: "
        "every line a coupon discounted returned in full)",
    )


class RuleAward(BaseModel):
    rule_id: str
    rule_version: int
    points: int


class PurchaseLine(BaseModel):
    line_id: str
    sku: str
    category: str | None
    brand: str | None
    quantity: str = Field(description="a decimal string")
    amount: MoneyText
    discount: MoneyText
    points_redeemed: int
    points_earned: int
    awards: list[RuleAward] = Field(description="the points of the line, by rule")


class ReturnPublic(BaseModel):
    return_id: str
    occurred_at: datetime
    points_clawed_back: int
    points_restored: int
    forgiven: int = 0
    expired_at_once: int = 0
    refund: MoneyText
    lines: list[ReturnedLine]


class PaymentOut(BaseModel):
    tender: str
    amount: MoneyText


class PurchasePublic(BaseModel):
    """A booked purchase with its points by line and rule, and its returns."""

    receipt_id: str
    member_id: int
    occurred_at: datetime
    store: str | None
    channel: str
    partner: str | None = Field(description="as given with the purchase (rules may test it)")
    payment_method: str | None = Field(
        description="as given with the purchase; with payments only, the main tender"
    )
    payments: list[PaymentOut] = Field(
        default_factory=list, description="as given with the purchase (empty: not given)"
    )
    promo_codes: list[str] = Field(
        default_factory=list, description="the promo codes the purchase used"
    )
    order_discount: MoneyText = Field(
        "0.00",
        description="the shop's own order discount; the lines' amounts are net of their share",
    )
    total: MoneyText
    discount: MoneyText
    points_earned: int
    points_redeemed: int
    rule_version: int | None
    earn_entry_id: int | None
    redeem_entry_id: int | None
    lines: list[PurchaseLine]
    returns: list[ReturnPublic]
