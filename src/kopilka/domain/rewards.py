"""Rewards: what members spend points on besides a purchase (issue 24). Pure: the catalog's
types, who may see and redeem a reward when, its price for a tier, the limits, an issued
reward's validity and status, and the check character of a reward's code.

A reward is one of four kinds: a gift (picked up or delivered), a discount coupon (percent
or a fixed amount, a minimum basket, the categories it applies to), a money voucher (a fixed
amount off any purchase) or a partner's coupon (its code comes from a pool loaded from CSV).
Redeeming one debits its price in points (the ledger's ``reward`` entry) and *issues* it:
an :class:`IssuedReward` with a code, a validity and a status.

A reward may be a **personal offer** (``requires_activation``): the member it is visible to
must activate it first (as a rule offer is activated, and stored with them under the offer
id ``reward:<id>``); until then redeeming it is refused ``offer_not_activated``.

Codes Kopilka makes are 12 characters of ``0-9A-Z``: 11 random ones (``secrets``, about
57 bits) and a check character, Luhn mod 36, so a mistyped character or two swapped
neighbours are told apart from a code that does not exist without a query.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from kopilka.domain.errors import (
    OfferNotActivated,
    OfferNotAvailable,
    RewardCodeInvalid,
    RewardUnavailable,
    ValidationError,
)
from kopilka.domain.messages import msg
from kopilka.domain.rules.offers import ACTIVE, ENDED, OPEN, UPCOMING

LANGUAGES = ("en", "ru")
CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CODE_BODY = 11  # random characters of a code Kopilka makes; one check character follows
MAX_PARTNER_CODE = 64


class RewardKind(StrEnum):
    """What a reward is."""

    GIFT = "gift"
    COUPON = "coupon"
    VOUCHER = "voucher"
    PARTNER = "partner"


class Fulfilment(StrEnum):
    """How a gift reaches the member."""

    PICKUP = "pickup"
    DELIVERY = "delivery"


class CouponKind(StrEnum):
    """A coupon takes a percentage off or a fixed amount."""

    PERCENT = "percent"
    FIXED = "fixed"


class Period(StrEnum):
    """The period a per-member limit counts in: a calendar day, week (Monday) or month of
    the program's time zone."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class IssuedStatus(StrEnum):
    """An issued reward is issued until used, expired or cancelled; the last three are final."""

    ISSUED = "issued"
    USED = "used"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Text:
    """A text in each language of the pages (``en`` and ``ru``, both required)."""

    en: str
    ru: str

    def get(self, lang: str) -> str:
        """The text in ``lang`` (English for any other language)."""
        return self.ru if lang == "ru" else self.en

    def as_dict(self) -> dict[str, str]:
        """The stored form."""
        return {"en": self.en, "ru": self.ru}

    @staticmethod
    def of(data: Mapping[str, object] | None) -> Text:
        """Read back the stored form."""
        data = data or {}
        return Text(str(data.get("en") or ""), str(data.get("ru") or ""))


@dataclass(frozen=True, slots=True)
class CouponTerms:
    """What a discount coupon or a money voucher takes off: ``amount`` is a percent (1-100)
    for :attr:`CouponKind.PERCENT`, minor units for :attr:`CouponKind.FIXED`; the basket must
    reach ``min_basket_minor``; ``categories`` empty means every line."""

    kind: CouponKind
    amount: int
    min_basket_minor: int = 0
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == CouponKind.PERCENT and not 1 <= self.amount <= 100:
            raise ValidationError(
                msg("a percent coupon takes 1 to 100 percent"), field="coupon.amount"
            )
        if self.kind == CouponKind.FIXED and self.amount <= 0:
            raise ValidationError(
                msg("a fixed coupon takes a positive amount"), field="coupon.amount"
            )
        if self.min_basket_minor < 0:
            raise ValidationError(
                msg("the minimum basket cannot be negative"), field="coupon.min_basket_minor"
            )

    def as_dict(self) -> dict[str, object]:
        """The stored form (also what an issued coupon keeps, so later catalog edits do not
        change a coupon a member holds)."""
        return {
            "kind": str(self.kind),
            "amount": self.amount,
            "min_basket_minor": self.min_basket_minor,
            "categories": list(self.categories),
        }

    @staticmethod
    def of(data: Mapping[str, object] | None) -> CouponTerms | None:
        """Read back the stored form (None: no terms)."""
        if not data:
            return None
        cats = data.get("categories") or []
        return CouponTerms(
            CouponKind(str(data["kind"])),
            int(str(data["amount"])),
            int(str(data.get("min_basket_minor") or 0)),
            tuple(str(c) for c in cats) if isinstance(cats, list) else (),
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """How many of a reward may be issued: to one member in all (``per_member``), to one
    member in a ``period`` (``per_period``), and to everyone (``total``). None: no limit."""

    per_member: int | None = None
    per_period: int | None = None
    period: Period | None = None
    total: int | None = None

    def __post_init__(self) -> None:
        for name in ("per_member", "per_period", "total"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValidationError(
                    msg("a limit is a positive whole number"), field=f"limits.{name}"
                )
        if (self.per_period is None) != (self.period is None):
            raise ValidationError(
                msg("a limit per period needs both the count and the period"),
                field="limits.period",
            )


@dataclass(frozen=True, slots=True)
class Validity:
    """How long an issued reward is good for: from ``activation_delay`` after it is issued,
    for ``valid_days`` days (None: until ``valid_until``, or for good when that is None too)."""

    activation_delay: timedelta = timedelta(0)
    valid_days: int | None = None
    valid_until: datetime | None = None

    def __post_init__(self) -> None:
        if self.activation_delay < timedelta(0):
            raise ValidationError(
                msg("the activation delay cannot be negative"), field="validity.activation_delay"
            )
        if self.valid_days is not None and self.valid_days <= 0:
            raise ValidationError(
                msg("a validity in days is a positive whole number"), field="validity.valid_days"
            )

    def window(self, issued_at: datetime) -> tuple[datetime, datetime | None]:
        """When an issued reward becomes usable and when it expires (None: never); a fixed
        end comes first when it is earlier than the days."""
        starts = issued_at + self.activation_delay
        ends: datetime | None = None
        if self.valid_days is not None:
            ends = starts + timedelta(days=self.valid_days)
        if self.valid_until is not None and (ends is None or self.valid_until < ends):
            ends = self.valid_until
        return starts, ends


@dataclass(frozen=True, slots=True)
class EarlyAccess:
    """Members of ``tier`` or higher may redeem from ``opens_at``, before the window's start."""

    tier: str
    opens_at: datetime


@dataclass(frozen=True, slots=True)
class Audience:
    """Who sees a reward: members of one of ``tiers``, or in one of ``segments`` (the
    member's ``attributes.segments``, as offers and rules read them), or listed in
    ``members`` (member ids). All three empty: everybody; otherwise any one admits."""

    tiers: tuple[str, ...] = ()
    members: tuple[int, ...] = ()
    segments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for segment in self.segments:
            if not segment or len(segment) > 64 or not segment.isprintable():
                raise ValidationError(
                    msg("a segment is 1 to 64 printable characters"),
                    field="audience.segments",
                )

    @property
    def everybody(self) -> bool:
        """No tier, segment or member named: every member sees the reward."""
        return not self.tiers and not self.members and not self.segments

    def admits(
        self, member_id: int, tier: str | None, segments: frozenset[str] = frozenset()
    ) -> bool:
        """Whether the member (of ``tier``, in ``segments``) is in the audience."""
        if self.everybody:
            return True
        return (
            (tier is not None and tier in self.tiers)
            or member_id in self.members
            or not segments.isdisjoint(self.segments)
        )


@dataclass(frozen=True, slots=True)
class Reward:
    """A reward of the catalog as the domain reads it."""

    id: int
    program_id: int
    code: str  # the back office's handle, unique in the program
    kind: RewardKind
    name: Text
    description: Text
    points: int
    tier_points: Mapping[str, int] = field(default_factory=dict)
    coupon: CouponTerms | None = None
    fulfilment: Fulfilment | None = None
    stock: int | None = None  # left to issue (None: unlimited)
    limits: Limits = field(default_factory=Limits)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    early: EarlyAccess | None = None
    audience: Audience = field(default_factory=Audience)
    validity: Validity = field(default_factory=Validity)
    active: bool = True
    image: str | None = None  # the stored image's file name
    requires_activation: bool = False  # a personal offer: the member activates it first

    def price(self, tier: str | None) -> int:
        """The points this reward costs a member of ``tier``."""
        if tier is not None and tier in self.tier_points:
            return self.tier_points[tier]
        return self.points

    def opens_for(self, tier_rank: int, rank_of: Mapping[str, int]) -> datetime | None:
        """When a member of the tier ranked ``tier_rank`` may start redeeming (None: no
        start): the early date for the early tier and above, the window's start otherwise."""
        early = self.early
        if (
            early is not None
            and tier_rank >= rank_of.get(early.tier, 10**6)
            and (self.starts_at is None or early.opens_at < self.starts_at)
        ):
            return early.opens_at
        return self.starts_at


@dataclass(frozen=True, slots=True)
class MemberStanding:
    """What deciding on a redemption needs of the member: who, the tier and its rank
    (``TierPolicy.rank``: 0 for none), and how many of this reward they hold in all and
    in the current period, the segments they are in, and whether they activated the
    reward's offer (read only when the reward requires activation)."""

    member_id: int
    tier: str | None
    tier_rank: int
    issued_to_member: int = 0
    issued_in_period: int = 0
    segments: frozenset[str] = frozenset()
    activated: bool = False


def refusal(
    reward: Reward,
    who: MemberStanding,
    now: datetime,
    rank_of: Mapping[str, int],
    *,
    issued_total: int,
    listing: bool = False,
) -> str | None:
    """Why ``who`` may not redeem ``reward`` at ``now`` (a ``RewardUnavailable`` reason),
    or None. ``listing``: only what decides whether the catalog shows it (visibility and
    window), not activation, stock or limits, which the catalog shows as figures."""
    if not reward.active:
        return "inactive"
    if not reward.audience.admits(who.member_id, who.tier, who.segments):
        return "not_visible"
    opens = reward.opens_for(who.tier_rank, rank_of)
    if opens is not None and now < opens:
        return "not_yet_available"
    if reward.ends_at is not None and now >= reward.ends_at:
        return "ended"
    if listing:
        return None
    if reward.requires_activation and not who.activated:
        return "not_activated"
    if reward.stock is not None and reward.stock <= 0:
        return "out_of_stock"
    lim = reward.limits
    if lim.total is not None and issued_total >= lim.total:
        return "total_limit"
    if lim.per_member is not None and who.issued_to_member >= lim.per_member:
        return "member_limit"
    if lim.per_period is not None and who.issued_in_period >= lim.per_period:
        return "period_limit"
    return None


def unavailable(reason: str, reward: Reward) -> RewardUnavailable:
    """The error for a refusal (``details.reason`` is the stable part); an offer not
    activated is its own code, ``offer_not_activated``, naming the offer to activate."""
    if reason == "not_activated":
        return OfferNotActivated(
            msg("activate the offer of reward %(code)s first", code=reward.code),
            reason=reason,
            reward=reward.code,
            offer_id=reward_offer_id(reward.id),
        )
    texts = {
        "inactive": msg("reward %(code)s is withdrawn", code=reward.code),
        "not_visible": msg("reward %(code)s is not offered to this member", code=reward.code),
        "not_yet_available": msg("reward %(code)s is not available yet", code=reward.code),
        "ended": msg("reward %(code)s is no longer available", code=reward.code),
        "out_of_stock": msg("reward %(code)s is out of stock", code=reward.code),
        "pool_empty": msg("reward %(code)s has no partner codes left", code=reward.code),
        "total_limit": msg("reward %(code)s has reached its total limit", code=reward.code),
        "member_limit": msg(
            "the member has reached the limit of reward %(code)s", code=reward.code
        ),
        "period_limit": msg(
            "the member has reached this period's limit of reward %(code)s", code=reward.code
        ),
    }
    return RewardUnavailable(texts[reason], reason=reason, reward=reward.code)


# -- rewards as personal offers --------------------------------------------------------------
REWARD_OFFER_PREFIX = "reward:"
_OFFER_ID = re.compile(r"reward:([1-9][0-9]{0,17})")


def reward_offer_id(reward_id: int) -> str:
    """The offer id of a reward offered as a personal offer: ``reward:<id>`` (a rule's id
    cannot hold a colon, so the two kinds never meet in ``offer_activations``)."""
    return f"{REWARD_OFFER_PREFIX}{reward_id}"


def reward_of_offer(offer_id: str) -> int | None:
    """The reward id an offer id names (``reward:7`` -> 7), or None for a rule's offer."""
    found = _OFFER_ID.fullmatch(offer_id)
    return int(found.group(1)) if found else None


def offer_state(reward: Reward, now: datetime, opens: datetime | None, activated: bool) -> str:
    """Where a reward offer stands for a member it is visible to at ``now`` (``opens``:
    when they may start redeeming it): ``ended`` (withdrawn or past its end), ``open`` (to
    activate), ``upcoming`` (activated, not yet redeemable) or ``active``."""
    if not reward.active or (reward.ends_at is not None and now >= reward.ends_at):
        return ENDED
    if not activated:
        return OPEN
    if opens is not None and now < opens:
        return UPCOMING
    return ACTIVE


def check_offer_activation(reward: Reward, who: MemberStanding, now: datetime) -> None:
    """Refuse to activate a reward offer not visible to the member or over
    (:class:`OfferNotAvailable`); like a rule offer it may be activated before it opens."""
    offer_id = reward_offer_id(reward.id)
    if not reward.audience.admits(who.member_id, who.tier, who.segments):
        raise OfferNotAvailable(msg("this offer is not addressed to the member"), offer_id=offer_id)
    if offer_state(reward, now, None, True) == ENDED:
        raise OfferNotAvailable(msg("this offer is over"), offer_id=offer_id)


def period_start(period: Period, now: datetime, zone: ZoneInfo) -> datetime:
    """The start (UTC) of the calendar day, week (from Monday) or month containing ``now``
    in the program's time zone: a per-period limit counts the issues since then."""
    local = now.astimezone(zone)
    day = local.date()
    if period == Period.WEEK:
        day = day - timedelta(days=day.weekday())
    elif period == Period.MONTH:
        day = day.replace(day=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


MAX_IMAGE_BYTES = 512 * 1024  # below the API's body limit (1,000,000 bytes) with a form's
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def image_type(data: bytes) -> str:
    """The content type of an uploaded reward image, told by its first bytes (never by its
    name or the type the browser claims): PNG, JPEG or WebP of at most 512 KB."""
    if not data:
        raise ValidationError(msg("the image is empty"), field="image")
    if len(data) > MAX_IMAGE_BYTES:
        raise ValidationError(msg("the image is larger than 512 KB"), field="image")
    for magic, kind in _IMAGE_MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise ValidationError(msg("the image must be a PNG, JPEG or WebP file"), field="image")


# -- codes ------------------------------------------------------------------------------------
def check_character(body: str) -> str:
    """The Luhn mod 36 check character of ``body`` (characters of :data:`CODE_ALPHABET`)."""
    n = len(CODE_ALPHABET)
    factor, total = 2, 0
    for ch in reversed(body):
        addend = factor * CODE_ALPHABET.index(ch)
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return CODE_ALPHABET[(n - total % n) % n]


def make_code(body: str) -> str:
    """A code: ``body`` followed by its check character."""
    return body + check_character(body)


def normalize_code(text: str) -> str:
    """A code as typed (any case, spaces or dashes between groups) in its stored form."""
    return "".join(ch for ch in text.upper() if ch not in " -")


def check_code(text: str) -> str:
    """A Kopilka-made code read from input: normalized and its check character verified,
    or :class:`RewardCodeInvalid`."""
    code = normalize_code(text)
    if len(code) != CODE_BODY + 1 or any(ch not in CODE_ALPHABET for ch in code):
        raise RewardCodeInvalid(msg("this is not a reward code"), reason="format")
    if check_character(code[:-1]) != code[-1]:
        raise RewardCodeInvalid(
            msg("the reward code is mistyped (its check character does not match)"),
            reason="check",
        )
    return code


def grouped(code: str) -> str:
    """A Kopilka-made code as shown to people: groups of four (``ABCD-EFGH-IJKL``)."""
    if len(code) != CODE_BODY + 1:
        return code
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def check_partner_code(text: str) -> str:
    """A partner's code from a pool file: printable, without spaces, at most 64 characters."""
    code = text.strip()
    if not code or len(code) > MAX_PARTNER_CODE or not code.isprintable() or " " in code:
        raise RewardCodeInvalid(msg("this is not a partner code"), reason="format")
    return code


def parse_pool_csv(text: str) -> list[str]:
    """The codes of a partner's CSV file: the first column of each row, a header row
    ``code`` skipped, blank rows skipped; a malformed code is refused with its line, so a
    file is loaded whole or not at all."""
    codes: list[str] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not row[0].strip():
            continue
        cell = row[0].strip()
        if number == 1 and cell.lower() == "code":
            continue
        try:
            codes.append(check_partner_code(cell))
        except RewardCodeInvalid:
            raise RewardCodeInvalid(
                msg("line %(line)s: this is not a partner code", line=number),
                reason="format",
                line=number,
            ) from None
    return codes


# -- issued rewards ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IssuedReward:
    """A reward issued to a member: its code, what it was bought with (the ``reward``
    entry), when it is usable, its status, and (coupons and vouchers) its terms as they were
    when it was issued."""

    id: int
    program_id: int
    reward_id: int
    member_id: int
    code: str
    kind: RewardKind
    points: int
    entry_id: int
    issued_at: datetime
    valid_from: datetime
    expires_at: datetime | None
    status: IssuedStatus
    coupon: CouponTerms | None = None
    refund_entry_id: int | None = None
    ended_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Issued, past its activation delay and not past its expiry."""
        return (
            self.status == IssuedStatus.ISSUED
            and self.valid_from <= now
            and (self.expires_at is None or now < self.expires_at)
        )

    def due_to_expire(self, now: datetime) -> bool:
        """Still issued but its expiry has passed (the worker's ``rewards`` job ends it)."""
        return (
            self.status == IssuedStatus.ISSUED
            and self.expires_at is not None
            and self.expires_at <= now
        )


def coupon_discount(terms: CouponTerms, eligible_minor: int, basket_minor: int) -> int:
    """What a coupon takes off a basket of ``basket_minor`` whose lines it applies to come to
    ``eligible_minor`` (0 when the basket is under the minimum); never more than those lines."""
    if basket_minor < terms.min_basket_minor or eligible_minor <= 0:
        return 0
    if terms.kind == CouponKind.PERCENT:
        return eligible_minor * terms.amount // 100
    return min(terms.amount, eligible_minor)
