"""The console's reward form, one for a new reward and for changing one: its fields read
into the domain's :class:`~kopilka.domain.rewards.Reward` (the edge: every field checked
once here, the domain's constructors and the service check the rest), and a stored
reward written back into the form's fields to change it.

A change keeps what the form does not show: the stock (changed on its own), a gift's
fulfilment, the activation delay and a fixed end of validity (set through the API)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kopilka.domain.errors import KopilkaError, ValidationError
from kopilka.domain.money import parse_money, to_decimal
from kopilka.domain.program import Program
from kopilka.domain.rewards import (
    Audience,
    CouponKind,
    CouponTerms,
    EarlyAccess,
    Fulfilment,
    Limits,
    Period,
    Reward,
    RewardKind,
    Text,
    Validity,
)
from kopilka.services.rewards.views import RewardView
from kopilka.web.i18n import N_, tr
from kopilka.web.render import Form

KINDS = {
    "gift": N_("gift"),
    "coupon": N_("discount coupon"),
    "voucher": N_("money voucher"),
    "partner": N_("partner coupon"),
}
FORM_FIELDS = (
    "code",
    "kind",
    "name_en",
    "name_ru",
    "description_en",
    "description_ru",
    "points",
    "stock",
    "coupon_kind",
    "coupon_amount",
    "min_basket",
    "categories",
    "valid_days",
    "tier_points",
    "limit_per_member",
    "limit_per_period",
    "limit_period",
    "limit_total",
    "starts_at",
    "ends_at",
    "early_tier",
    "early_opens_at",
    "audience_tiers",
    "audience_segments",
    "audience_members",
    "active",  # changing a reward only: "on" while it is offered
)
# the domain's names of the fields a refusal points at, as the form names them (so the
# message is shown next to its field)
FORM_FIELD_OF = {
    "limits.per_member": "limit_per_member",
    "limits.per_period": "limit_per_period",
    "limits.period": "limit_period",
    "limits.total": "limit_total",
    "audience.segments": "audience_segments",
    "coupon": "coupon_amount",
    "coupon.kind": "coupon_kind",
    "coupon.amount": "coupon_amount",
    "coupon.min_basket_minor": "min_basket",
    "validity.valid_days": "valid_days",
}


def bad_field(error: KopilkaError | None) -> str | None:
    """The form's field a refusal names (None: the form as a whole, or no refusal)."""
    field = error.details.get("field") if error is not None else None
    return FORM_FIELD_OF.get(str(field), str(field)) if field else None


def _int(form: Form | dict[str, str], name: str, *, required: bool = False) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        if required:
            raise ValidationError(tr("Fill in %(field)s.", field=name), field=name)
        return None
    if not raw.isdigit() or len(raw) > 10:
        raise ValidationError(tr("%(field)s must be a whole number.", field=name), field=name)
    return int(raw)


def whole_number(form: Form | dict[str, str], name: str) -> int | None:
    """An optional whole-number field (empty: None)."""
    return _int(form, name)


def _list(form: Form | dict[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated field: its non-empty items, once each, in order (at most 100)."""
    items = (x.strip() for x in form.get(name, "").split(","))
    return tuple(dict.fromkeys(x for x in items if x))[:100]


def _local_time(form: Form | dict[str, str], name: str, zone: ZoneInfo) -> datetime | None:
    """A ``datetime-local`` field read in the program's time zone (empty: none)."""
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=zone)
    except ValueError:
        raise ValidationError(tr("Give a date and time."), field=name) from None


def _tier_points(form: Form | dict[str, str]) -> dict[str, int]:
    """``gold=80, silver=90``: the price for each tier named."""
    prices: dict[str, int] = {}
    for item in _list(form, "tier_points"):
        tier, _, raw = item.partition("=")
        tier, raw = tier.strip(), raw.strip()
        if not tier or not raw.isdigit() or len(raw) > 10 or int(raw) <= 0:
            raise ValidationError(
                tr("Write prices by tier as tier=points, separated by commas."),
                field="tier_points",
            )
        prices[tier] = int(raw)
    return prices


def _audience(form: Form | dict[str, str]) -> Audience:
    members: list[int] = []
    for raw in _list(form, "audience_members"):
        if not raw.isdigit() or len(raw) > 18:
            raise ValidationError(
                tr("Members are listed by their ids, separated by commas."),
                field="audience_members",
            )
        members.append(int(raw))
    return Audience(_list(form, "audience_tiers"), tuple(members), _list(form, "audience_segments"))


def _limits(form: Form | dict[str, str]) -> Limits:
    period_raw = form.get("limit_period", "").strip()
    if period_raw and period_raw not in {str(p) for p in Period}:
        raise ValidationError(tr("Choose a period."), field="limit_period")
    return Limits(
        _int(form, "limit_per_member"),
        _int(form, "limit_per_period"),
        Period(period_raw) if period_raw else None,
        _int(form, "limit_total"),
    )


def reward_from_form(
    form: dict[str, str], program: Program, current: RewardView | None = None
) -> Reward:
    """The reward form read into the domain's reward (every field checked here; the
    domain's own checks follow in its constructors): a new one, or, given the ``current``
    catalog row, that row changed (with what the form does not show kept as it is)."""
    kind_raw = form.get("kind", "")
    if kind_raw not in KINDS:
        raise ValidationError(tr("Choose a kind."), field="kind")
    kind = RewardKind(kind_raw)
    code = form.get("code", "").strip()
    if not code or len(code) > 64 or not all(c.isalnum() or c in "_.-" for c in code):
        raise ValidationError(
            tr("The code is 1-64 letters, digits, '_', '.' or '-'."), field="code"
        )
    names = Text(form.get("name_en", "").strip(), form.get("name_ru", "").strip())
    if not names.en or not names.ru or len(names.en) > 200 or len(names.ru) > 200:
        raise ValidationError(tr("Give the name in both languages."), field="name_en")
    description = Text(
        form.get("description_en", "").strip()[:2000], form.get("description_ru", "").strip()[:2000]
    )
    points = _int(form, "points", required=True)
    if not points:
        raise ValidationError(tr("The price is at least 1 point."), field="points")
    coupon = None
    if kind in (RewardKind.COUPON, RewardKind.VOUCHER):
        coupon_kind = CouponKind.FIXED if kind == RewardKind.VOUCHER else CouponKind.PERCENT
        if form.get("coupon_kind") == "fixed":
            coupon_kind = CouponKind.FIXED
        raw_amount = form.get("coupon_amount", "").strip()
        if coupon_kind == CouponKind.PERCENT:
            amount = _int(form, "coupon_amount", required=True) or 0
        else:
            amount = parse_money(raw_amount or "0", program.currency, field="coupon_amount")
        minimum = parse_money(
            form.get("min_basket", "").strip() or "0", program.currency, field="min_basket"
        )
        categories = tuple(c.strip() for c in form.get("categories", "").split(",") if c.strip())[
            :100
        ]
        coupon = CouponTerms(coupon_kind, amount, minimum, categories)
    valid_days = _int(form, "valid_days")
    zone = ZoneInfo(program.timezone)
    starts_at, ends_at = _local_time(form, "starts_at", zone), _local_time(form, "ends_at", zone)
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValidationError(tr("The reward must end after it starts."), field="ends_at")
    early_tier = form.get("early_tier", "").strip()
    early_opens = _local_time(form, "early_opens_at", zone)
    if bool(early_tier) != (early_opens is not None):
        raise ValidationError(
            tr("Early access needs both the tier and the date."), field="early_tier"
        )
    validity = Validity(timedelta(0), valid_days or None)
    fulfilment, active = None, True
    if current is None:
        stock = _int(form, "stock")
    else:
        # what the form does not show stays as it is (the service keeps the stock too)
        stock = current["stock"]
        held = current["fulfilment"]
        fulfilment = Fulfilment(held) if held and kind == RewardKind.GIFT else None
        until = current["validity"]["valid_until"]
        validity = Validity(
            timedelta(seconds=current["validity"]["activation_delay_s"]),
            valid_days or None,
            datetime.fromisoformat(until) if until else None,
        )
        active = form.get("active") == "on"
    return Reward(
        id=current["id"] if current is not None else 0,
        program_id=program.id,
        code=code,
        kind=kind,
        name=names,
        description=description,
        points=points,
        coupon=coupon,
        fulfilment=fulfilment,
        stock=stock,
        tier_points=_tier_points(form),
        limits=_limits(form),
        starts_at=starts_at,
        ends_at=ends_at,
        early=EarlyAccess(early_tier, early_opens) if early_opens is not None else None,
        audience=_audience(form),
        validity=validity,
        active=active,
    )


def _local_text(value: str | None, zone: ZoneInfo) -> str:
    """A stored instant as a ``datetime-local`` field shows it, in the program's time zone
    (seconds only when it has some)."""
    if not value:
        return ""
    at = datetime.fromisoformat(value).astimezone(zone).replace(tzinfo=None)
    return at.isoformat(timespec="minutes" if at.second == 0 else "seconds")


def _amount_text(minor: int, currency: str) -> str:
    return str(to_decimal(minor, currency))


def form_of(reward: RewardView, program: Program) -> dict[str, str]:
    """A catalog row written into the form's fields, as the marketer would type them
    (read back by :func:`reward_from_form`, it is the same reward)."""
    zone = ZoneInfo(program.timezone)
    coupon, limits, audience = reward["coupon"], reward["limits"], reward["audience"]
    fields = {
        "code": reward["code"],
        "kind": reward["kind"],
        "name_en": reward["name"]["en"],
        "name_ru": reward["name"]["ru"],
        "description_en": reward["description"]["en"],
        "description_ru": reward["description"]["ru"],
        "points": str(reward["points"]),
        "stock": "" if reward["stock"] is None else str(reward["stock"]),
        "valid_days": str(reward["validity"]["valid_days"] or ""),
        "tier_points": ", ".join(f"{t}={p}" for t, p in reward["tier_points"].items()),
        "limit_per_member": str(limits["per_member"] or ""),
        "limit_per_period": str(limits["per_period"] or ""),
        "limit_period": limits["period"] or "",
        "limit_total": str(limits["total"] or ""),
        "starts_at": _local_text(reward["starts_at"], zone),
        "ends_at": _local_text(reward["ends_at"], zone),
        "early_tier": reward["early"]["tier"] if reward["early"] else "",
        "early_opens_at": _local_text(reward["early"]["opens_at"], zone) if reward["early"] else "",
        "audience_tiers": ", ".join(audience["tiers"]),
        "audience_segments": ", ".join(audience["segments"]),
        "audience_members": ", ".join(str(m) for m in audience["members"]),
        "active": "on" if reward["active"] else "",
        "coupon_kind": "",
        "coupon_amount": "",
        "min_basket": "",
        "categories": "",
    }
    if coupon is not None:
        fixed = coupon["kind"] == "fixed"
        fields["coupon_kind"] = coupon["kind"]
        fields["coupon_amount"] = (
            _amount_text(coupon["amount"], program.currency) if fixed else str(coupon["amount"])
        )
        if coupon["min_basket_minor"]:
            fields["min_basket"] = _amount_text(coupon["min_basket_minor"], program.currency)
        fields["categories"] = ", ".join(coupon["categories"])
    return fields
