"""The console's form for the common rule kinds (rate, multiplier, bonus), beside the
rules document editor: its fields read into one rule as a document writes it
(:func:`rule_of`, every field checked at this edge with an error in the page's language),
and a rule of a document shown in the fields (:func:`fields_of`).

The form writes nothing of its own: :func:`kopilka.services.rule_drafts.put_rule` puts
the rule into the draft's text, so a rule made with the form and one written in the
editor are the same rule. A rule that uses what the form has no field for (a pilot,
segments, member attributes, several date ranges...) is not shown in it:
:func:`fields_of` returns None, and the rule is edited in the document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import pydantic

from kopilka.domain.money import currency_exponent
from kopilka.domain.rules import schema
from kopilka.web.i18n import N_, Translated, number, tr
from kopilka.web.words import channel as channel_word

KINDS = ("rate", "multiplier", "bonus")
KIND_TITLES = {
    "rate": N_("Rate: points per amount"),
    "multiplier": N_("Multiplier"),
    "bonus": N_("Bonus: fixed points"),
}
WEEKDAYS = schema.WEEKDAYS
WEEKDAY_NAMES = {
    "mon": N_("Monday"),
    "tue": N_("Tuesday"),
    "wed": N_("Wednesday"),
    "thu": N_("Thursday"),
    "fri": N_("Friday"),
    "sat": N_("Saturday"),
    "sun": N_("Sunday"),
}
CHANNELS = ("till", "web", "app")
LISTS = ("categories", "skus", "brands", "tags", "stores", "tiers")
LIMITS = ("per_purchase", "per_member_day", "per_member_month", "budget")
MAX_POINTS = 10**12
_ID = re.compile(schema.RULE_ID)
_DECIMAL = re.compile(r"^\d{1,13}(\.\d{1,6})?$")
_HHMM = schema.HHMM
Fields = dict[str, str]


class FormErrors(Exception):
    """The form's fields in error, each with its message in the page's language."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def rule_of(fields: Mapping[str, str], currency: str) -> dict[str, Any]:
    """The rule the form's ``fields`` describe, as a document writes it (keys in the
    order people write them, defaults left out); :class:`FormErrors` for every field in
    error, when any is."""
    reader = _Reader(fields, currency)
    rule = reader.rule()
    if reader.errors:
        raise FormErrors(reader.errors)
    try:  # what this edge checks is the schema's rule; this catches a slip between them
        schema.RULE_MODELS[rule["kind"]].model_validate(rule)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise FormErrors({"id": f"{'.'.join(map(str, first['loc']))}: {first['msg']}"}) from None
    return rule


def fields_of(rule: Mapping[str, Any]) -> Fields | None:
    """The form's fields showing ``rule`` (a rule as a document writes it), or None when
    the form cannot show all of it: then reading the fields back would give another rule."""
    kind = rule.get("kind")
    if kind not in KINDS:
        return None
    try:
        model = schema.RULE_MODELS[str(kind)].model_validate(rule)
    except pydantic.ValidationError:
        return None
    try:
        fields = _fields(model)
    except _Unshowable:
        return None
    try:
        again = rule_of(fields, "XXX")  # scale is checked by the document, not needed here
    except FormErrors:
        return None
    if schema.RULE_MODELS[str(kind)].model_validate(again) != model:
        return None
    return fields


def _text(value: object) -> str:
    return "" if value is None else str(value)


class _Unshowable(Exception):
    """A part of the rule the form has no field for (a negated list: ``{not: [...]}``)."""


def _listed(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, list):
        raise _Unshowable
    return ", ".join(value)


def _fields(m: schema.RuleBase) -> Fields:
    f: Fields = {
        "kind": str(getattr(m, "kind", "")),
        "id": m.id,
        "description": m.description,
        "priority": str(m.priority),
        "stacking": m.stacking,
    }
    if not m.visible:
        f["hidden"] = "yes"
    if m.campaign:
        f["campaign"] = m.campaign
    if isinstance(m, schema.RateRule):
        f["rate_points"] = _text(m.rate.points)
        f["rate_per"] = _text(m.rate.per)
        f["rate_percent"] = _text(m.rate.percent)
    elif isinstance(m, schema.MultiplierRule):
        f["factor"] = _text(m.factor)
    elif isinstance(m, schema.BonusRule):
        f["bonus_points"] = _text(m.points)
        f["min_amount"] = _text(m.min_amount)
        f["every_nth"] = _text(m.every_nth_purchase)
        if m.first_purchase:
            f["first_purchase"] = "yes"
    scope = getattr(m, "scope", schema.Scope())
    for name in ("categories", "skus", "brands", "tags"):
        f[name] = _listed(getattr(scope, name))
    w = m.when
    dates = w.dates or []
    if len(dates) == 1:
        f["date_from"], f["date_to"] = dates[0].from_.isoformat(), dates[0].to.isoformat()
    elif dates:
        f["date_from"] = "several"  # not a date: the form cannot show several ranges
    for day in w.days_of_week or []:
        f[f"day_{day}"] = "yes"
    if w.hours is not None:
        f["hours_from"], f["hours_to"] = w.hours.from_, w.hours.to
    if w.channels is not None and not isinstance(w.channels, list):
        raise _Unshowable
    for channel in w.channels or []:
        f[f"channel_{channel}"] = "yes"
    f["stores"] = _listed(w.stores)
    f["tiers"] = _listed(w.tiers)
    for name in LIMITS:
        f[name] = _text(getattr(m.limits, name))
    return f


class _Reader:
    """Reads the fields one by one, collecting an error per field."""

    def __init__(self, fields: Mapping[str, str], currency: str) -> None:
        self.fields = fields
        self.currency = currency
        self.errors: dict[str, Translated] = {}

    def get(self, name: str) -> str:
        return (self.fields.get(name) or "").strip()

    def fail(self, name: str, message: Translated) -> None:
        self.errors.setdefault(name, message)

    def whole(self, name: str, low: int, high: int, *, required: bool = False) -> int | None:
        text = self.get(name)
        if not text:
            if required:
                self.fail(name, tr("Required."))
            return None
        if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
            self.fail(
                name,
                tr("Enter a whole number from %(low)s to %(high)s.", low=low, high=number(high)),
            )
            return None
        return int(text)

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        text = self.get(name).replace(",", ".")
        if not text:
            if required:
                self.fail(name, tr("Required."))
            return None
        if not _DECIMAL.match(text):
            self.fail(name, tr("Enter a number such as 100 or 2.5."))
            return None
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            self.fail(name, tr("Enter a number such as 100 or 2.5."))
            return None

    def money(self, name: str, *, required: bool = False, positive: bool = False) -> str | None:
        value = self.decimal(name, required=required)
        if value is None:
            return None
        if positive and value <= 0:
            self.fail(name, tr("Enter an amount greater than 0."))
            return None
        exponent = currency_exponent(self.currency) if self.currency != "XXX" else 6
        if value != value.quantize(Decimal(1).scaleb(-exponent)):
            self.fail(name, tr("Too many decimal places for %(currency)s.", currency=self.currency))
            return None
        return _plain(value)

    def words(self, name: str) -> list[str]:
        values = [v.strip() for v in self.get(name).split(",") if v.strip()]
        if any(len(v) > 64 for v in values):
            self.fail(name, tr("Each value is at most 64 characters."))
        return values

    def rule(self) -> dict[str, Any]:
        kind = self.get("kind")
        if kind not in KINDS:
            self.fail("kind", tr("Choose rate, multiplier or bonus."))
            kind = "rate"
        rule: dict[str, Any] = {}
        rule_id = self.get("id")
        if not rule_id:
            self.fail("id", tr("Required."))
        elif not _ID.match(rule_id):
            self.fail(
                "id",
                tr(
                    "Use lowercase latin letters, digits, '.', '_' or '-' (at most 64), "
                    "starting with a letter or a digit."
                ),
            )
        rule["id"] = rule_id
        rule["kind"] = kind
        description = self.get("description")
        if len(description) > 500:
            self.fail("description", tr("At most 500 characters."))
        if description:
            rule["description"] = description
        if self.get("hidden"):
            rule["visible"] = False
        campaign = self.get("campaign")
        if campaign and not _ID.match(campaign):
            self.fail(
                "campaign",
                tr(
                    "Use lowercase latin letters, digits, '.', '_' or '-' (at most 64), "
                    "starting with a letter or a digit."
                ),
            )
        elif campaign:
            rule["campaign"] = campaign
        priority = self.whole("priority", 0, 1_000_000)
        if priority is not None and priority != 100:
            rule["priority"] = priority
        stacking = self.get("stacking") or "stackable"
        if stacking not in ("stackable", "exclusive"):
            self.fail("stacking", tr("Choose stackable or exclusive."))
        elif stacking == "exclusive":
            rule["stacking"] = "exclusive"
        getattr(self, f"_{kind}")(rule)
        scope = {name: self.words(name) for name in ("categories", "skus", "brands", "tags")}
        scope = {k: v for k, v in scope.items() if v}
        if scope:
            rule["scope"] = scope
        when = self.when()
        if when:
            rule["when"] = when
        limits = {name: self.whole(name, 1, MAX_POINTS) for name in LIMITS}
        limits = {k: v for k, v in limits.items() if v is not None}
        if limits:
            rule["limits"] = limits
        return rule

    def _rate(self, rule: dict[str, Any]) -> None:
        points = self.whole("rate_points", 1, MAX_POINTS)
        per = self.money("rate_per", positive=True)
        percent = self.decimal("rate_percent")
        if percent is not None and not 0 < percent <= 100:
            self.fail("rate_percent", tr("Enter a percentage greater than 0 and at most 100."))
            return
        fixed = points is not None or per is not None
        if fixed and percent is not None:
            self.fail("rate_percent", tr("Give either points per amount or a percentage."))
        elif fixed and points is None:
            self.fail("rate_points", tr("Give the points for each amount."))
        elif fixed and per is None:
            self.fail("rate_per", tr("Give the amount the points are for."))
        elif not fixed and percent is None and not self.errors.keys() & {"rate_points", "rate_per"}:
            self.fail("rate_points", tr("Give either points per amount or a percentage."))
        elif fixed:
            rule["rate"] = {"points": points, "per": per}
        elif percent is not None:
            rule["rate"] = {"percent": _number(percent)}

    def _multiplier(self, rule: dict[str, Any]) -> None:
        factor = self.decimal("factor", required=True)
        if factor is not None and not 1 < factor <= 100:
            self.fail("factor", tr("Enter a factor greater than 1 and at most 100."))
        elif factor is not None:
            rule["factor"] = _number(factor)

    def _bonus(self, rule: dict[str, Any]) -> None:
        points = self.whole("bonus_points", 1, MAX_POINTS, required=True)
        if points is not None:
            rule["points"] = points
        min_amount = self.money("min_amount")
        if min_amount is not None:
            rule["min_amount"] = min_amount
        nth = self.whole("every_nth", 2, 10_000)
        if nth is not None:
            rule["every_nth_purchase"] = nth
        if self.get("first_purchase"):
            rule["first_purchase"] = True

    def day(self, name: str) -> date | None:
        text = self.get(name)
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.fail(name, tr("Enter a date such as 2026-03-08."))
            return None

    def when(self) -> dict[str, Any]:
        when: dict[str, Any] = {}
        start, end = self.day("date_from"), self.day("date_to")
        if "date_from" not in self.errors and "date_to" not in self.errors:
            if (start is None) != (end is None):
                missing = "date_to" if end is None else "date_from"
                self.fail(missing, tr("Give both the first and the last day."))
            elif start is not None and end is not None and end < start:
                self.fail("date_to", tr("The last day must not be before the first."))
            elif start is not None:
                when["dates"] = [{"from": start, "to": end}]
        days = [d for d in WEEKDAYS if self.get(f"day_{d}")]
        if days:
            when["days_of_week"] = days
        hours = [self.get("hours_from"), self.get("hours_to")]
        for name, text in zip(("hours_from", "hours_to"), hours, strict=True):
            if text and not _HHMM.match(text):
                self.fail(name, tr("Enter a time such as 08:00."))
        if any(hours) and not all(hours):
            self.fail("hours_to" if hours[0] else "hours_from", tr("Give both times."))
        elif all(hours) and not self.errors.keys() & {"hours_from", "hours_to"}:
            when["hours"] = {"from": hours[0], "to": hours[1]}
        stores = self.words("stores")
        if stores:
            when["stores"] = stores
        channels = [c for c in CHANNELS if self.get(f"channel_{c}")]
        if channels:
            when["channels"] = channels
        tiers = self.words("tiers")
        if tiers:
            when["tiers"] = tiers
        return when


def _plain(value: Decimal) -> str:
    """A decimal as typed, without an exponent ("100", "99.50")."""
    return format(value, "f")


def _number(value: Decimal) -> int | str:
    """A factor or a percentage as a person writes it: 2, or "1.5"."""
    return int(value) if value == value.to_integral_value() else _plain(value)


def _field(
    name: str, label: str, help: str | None = None, type: str = "text", mode: str | None = None
) -> dict[str, str | None]:
    return {"name": name, "label": label, "help": help, "type": type, "mode": mode}


def layout(kind: str, currency: str, timezone: str) -> list[dict[str, Any]]:
    """The form's groups of fields for ``kind``, labelled in the page's language: each a
    legend, an optional help text, a row of text fields, rows of boxes, a select."""
    points: dict[str, Any]
    if kind == "rate":
        points = {
            "legend": tr("Points"),
            "fields": [
                _field("rate_points", tr("Points"), mode="numeric"),
                _field(
                    "rate_per",
                    tr("for every whole amount (%(currency)s)", currency=currency),
                    mode="decimal",
                ),
                _field(
                    "rate_percent",
                    tr("or a percentage of the amount, as points"),
                    tr("Give either points per amount or a percentage."),
                    mode="decimal",
                ),
            ],
        }
    elif kind == "multiplier":
        points = {
            "legend": tr("Factor"),
            "fields": [
                _field(
                    "factor",
                    tr("Multiply the points of the lines in scope by"),
                    tr("Greater than 1, at most 100: 2 doubles the points, 1.5 adds half."),
                    mode="decimal",
                )
            ],
        }
    else:
        points = {
            "legend": tr("Bonus"),
            "fields": [
                _field("bonus_points", tr("Bonus points for the purchase"), mode="numeric"),
                _field(
                    "min_amount",
                    tr("Minimum purchase (%(currency)s, optional)", currency=currency),
                    mode="decimal",
                ),
                _field("every_nth", tr("Every nth purchase (optional)"), mode="numeric"),
            ],
            "checks": [(None, [("first_purchase", tr("Only on the member's first purchase"))])],
        }
    groups = [
        {
            "legend": tr("The rule"),
            "fields": [
                _field(
                    "id",
                    tr("Id"),
                    tr(
                        "Lowercase latin letters, digits, '.', '_' or '-': e.g. spring-x2. "
                        "Awards record it."
                    ),
                ),
                _field(
                    "priority",
                    tr("Priority"),
                    tr("Smaller runs first; 100 if empty."),
                    mode="numeric",
                ),
                _field("description", tr("Description (members read it)")),
                _field(
                    "campaign",
                    tr("Campaign (optional)"),
                    tr("Rules with the same campaign are added up in the analytics."),
                ),
            ],
            "stacking": [
                ("stackable", tr("stackable: adds to the other rules")),
                ("exclusive", tr("exclusive: replaces the rules after it")),
            ],
            "checks": [(None, [("hidden", tr("Hidden from members (not listed in the portal)"))])],
        },
        points,
        {
            "legend": tr("Which lines"),
            "help": tr(
                "Lines matching any value listed; with nothing listed, every line. "
                "Separate values with commas."
            ),
            "fields": [
                _field("categories", tr("Categories")),
                _field("skus", tr("SKUs")),
                _field("brands", tr("Brands")),
                _field("tags", tr("Tags")),
            ],
        },
        {
            "legend": tr("When and where"),
            "help": tr(
                "Every condition given must hold; an empty one does not limit the rule. "
                "Dates and times are the program's (%(zone)s).",
                zone=timezone,
            ),
            "fields": [
                _field("date_from", tr("First day"), type="date"),
                _field("date_to", tr("Last day"), type="date"),
                _field("hours_from", tr("From (time)"), type="time"),
                _field("hours_to", tr("Until (time, not included)"), type="time"),
                _field("stores", tr("Stores")),
                _field("tiers", tr("Tiers")),
            ],
            "checks": [
                (tr("Days of the week"), [(f"day_{d}", tr(WEEKDAY_NAMES[d])) for d in WEEKDAYS]),
                (tr("Channels"), [(f"channel_{c}", channel_word(c)) for c in CHANNELS]),
            ],
        },
        {
            "legend": tr("Limits in points"),
            "fields": [
                _field("per_purchase", tr("Per purchase"), mode="numeric"),
                _field("per_member_day", tr("Per member a day"), mode="numeric"),
                _field("per_member_month", tr("Per member a month"), mode="numeric"),
                _field("budget", tr("Campaign budget"), mode="numeric"),
            ],
        },
    ]
    # every group has every key (the templates' undefined is strict)
    return [{"help": None, "stacking": [], "checks": [], **g} for g in groups]
