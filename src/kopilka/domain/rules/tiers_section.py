"""The ``tiers:`` section of a rules document: its shape (pydantic, strict) and its
compilation into a :class:`~kopilka.domain.tiers.TierPolicy`.

Checked with the rest of the document (``document.parse_ruleset`` reports its errors at
their lines and fields); :func:`tier_policy` reads the section alone for the services,
which keep the policy beside the compiled rule set. An example::

    tiers:
      window: {kind: calendar_year}
      combine: any
      downgrade: {mode: after_grace, grace_days: 30}
      review: {schedule: period_end}       # or anniversary (rolling/lifetime windows)
      qualifying_points: {from: [purchases, events]}
      soft_landing: true
      crossing_purchase_earns: false
      levels:
        - {code: silver, name: {ru: Серебряный, en: Silver}}
        - code: gold
          name: {ru: Золотой, en: Gold}
          entry: {spend: "15000"}
          keep: {spend: "10000"}
      paid:
        - code: gold_year
          tier: gold
          price: "1990"
          term: {months: 12}
          name: {ru: Золотой на год, en: Gold for a year}

``review`` says when members are reviewed: ``period_end`` (a calendar window's default),
``rolling`` (at every review run: a rolling or lifetime window's default) or
``anniversary`` (each member on the anniversary of reaching their tier; a rolling or
lifetime window). ``qualifying_points.from`` lists where qualifying points come from
(``purchases`` by default; ``events``, ``adjustments``). ``downgrade.on_return: true``
(with ``at_review``) lets a return that pushes a member below the retention bar downgrade
them at once instead of at the next review.

``paid:`` lists the plans a program sells (paid membership, ``domain/memberships.py``): each
gives one of the ``levels`` for a term of months or days, at a price in the document's
currency.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

import pydantic
from pydantic import Field, model_validator

from kopilka.domain.errors import ValidationError
from kopilka.domain.memberships import Plan
from kopilka.domain.messages import msg
from kopilka.domain.money import currency_exponent
from kopilka.domain.rules.pydantic_messages import located_message
from kopilka.domain.rules.schema import Money, Strict
from kopilka.domain.rules.source import Path, format_path, line_of, load_with_lines, resolve
from kopilka.domain.tiers import (
    Combine,
    Downgrade,
    PointsSource,
    ReviewSchedule,
    Threshold,
    Tier,
    TierPolicy,
    WindowKind,
)

CODE = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MAX_TIERS = 20
MAX_PLANS = 20


class Names(Strict):
    ru: Annotated[str, Field(min_length=1, max_length=64)]
    en: Annotated[str, Field(min_length=1, max_length=64)]


class Bar(Strict):
    """Money spent (major units), qualifying points, purchases; absent: not tested."""

    spend: Money | None = None
    points: Annotated[int, Field(ge=0, le=10**12, strict=True)] | None = None
    purchases: Annotated[int, Field(ge=0, le=10**9, strict=True)] | None = None


class Level(Strict):
    code: Annotated[str, Field(pattern=CODE)]
    name: Names
    benefits: Names | None = None
    entry: Bar = Bar()
    keep: Bar | None = None  # default: the entry bar


class Window(Strict):
    kind: Literal["rolling", "calendar_year", "calendar_quarter", "lifetime"] = "lifetime"
    months: Annotated[int, Field(ge=1, le=120)] | None = None

    @model_validator(mode="after")
    def _months(self) -> Window:
        if self.kind == "rolling" and self.months is None:
            raise ValueError(msg("a rolling window needs months"))
        if self.kind != "rolling" and self.months is not None:
            raise ValueError(msg("months is only for a rolling window"))
        return self


class DowngradeMode(Strict):
    mode: Literal["never", "at_review", "after_grace"] = "at_review"
    grace_days: Annotated[int, Field(ge=1, le=366)] | None = None
    # a return pushing the member below the retention bar downgrades at once (default: the
    # tier waits for the next review)
    on_return: bool = False

    @model_validator(mode="after")
    def _grace(self) -> DowngradeMode:
        if self.mode == "after_grace" and self.grace_days is None:
            raise ValueError(msg("after_grace needs grace_days"))
        if self.mode != "after_grace" and self.grace_days is not None:
            raise ValueError(msg("grace_days is only for after_grace"))
        return self


class Review(Strict):
    """When members are reviewed (absent: the window's own schedule)."""

    schedule: Literal["period_end", "anniversary", "rolling"]


class QualifyingPoints(Strict):
    """Where qualifying points come from: at least one source, each once."""

    from_: Annotated[
        list[Literal["purchases", "events", "adjustments"]],
        Field(alias="from", min_length=1, max_length=3),
    ]

    @model_validator(mode="after")
    def _once(self) -> QualifyingPoints:
        if len(set(self.from_)) != len(self.from_):
            raise ValueError(msg("each source of qualifying points is named once"))
        return self


class Term(Strict):
    """A paid plan's term: months or days, exactly one."""

    months: Annotated[int, Field(ge=1, le=120, strict=True)] | None = None
    days: Annotated[int, Field(ge=1, le=3660, strict=True)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Term:
        if (self.months is None) == (self.days is None):
            raise ValueError(msg("a term is months or days, exactly one of them"))
        return self


class PaidPlan(Strict):
    """A plan sold for a term: the tier it gives, at a price (major units)."""

    code: Annotated[str, Field(pattern=CODE)]
    tier: Annotated[str, Field(pattern=CODE)]
    price: Money
    term: Term
    name: Names


class Section(Strict):
    levels: Annotated[list[Level], Field(min_length=1, max_length=MAX_TIERS)]
    paid: Annotated[list[PaidPlan], Field(default_factory=list, max_length=MAX_PLANS)]
    combine: Literal["any", "all"] = "any"
    window: Window = Window()
    downgrade: DowngradeMode = DowngradeMode()
    review: Review | None = None
    qualifying_points: QualifyingPoints | None = None
    soft_landing: bool = False
    crossing_purchase_earns: bool = False


Problem = Callable[[Path, str], None]


def check_section(raw: Any, currency: str, problem: Problem) -> TierPolicy | None:
    """Validate a ``tiers:`` value; each problem is reported through ``problem(path, message)``
    with its path under ``tiers``. The policy, or ``None`` when the section is absent or wrong."""
    if raw is None:
        return None
    try:
        section = Section.model_validate(raw)
    except pydantic.ValidationError as exc:
        for err in exc.errors(include_url=False):
            problem(("tiers", *err["loc"]), located_message(err))
        return None
    exponent = currency_exponent(currency)
    ok = True
    calendar_window = section.window.kind in ("calendar_year", "calendar_quarter")
    schedule = section.review.schedule if section.review else None
    if schedule == "period_end" and not calendar_window:
        problem(
            ("tiers", "review", "schedule"),
            msg("a review at the period's end needs a calendar_year or calendar_quarter window"),
        )
        ok = False
    if schedule in ("anniversary", "rolling") and calendar_window:
        problem(
            ("tiers", "review", "schedule"),
            msg(
                "a review %(schedule)s needs a rolling or lifetime window;"
                " a calendar window is reviewed at the period's end",
                schedule=repr(schedule),
            ),
        )
        ok = False
    if section.downgrade.on_return and section.downgrade.mode != "at_review":
        problem(
            ("tiers", "downgrade", "on_return"),
            msg("on_return is only for the at_review mode"),
        )
        ok = False

    def minor(value: Decimal | None, path: Path) -> int | None:
        nonlocal ok
        if value is None:
            return None
        scaled = value.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            problem(
                path,
                msg(
                    "more than %(places)s decimal places for %(currency)s",
                    places=exponent,
                    currency=currency,
                ),
            )
            ok = False
            return 0
        return int(scaled)

    def threshold(bar: Bar, path: Path) -> Threshold:
        return Threshold(minor(bar.spend, (*path, "spend")), bar.points, bar.purchases)

    tiers: list[Tier] = []
    seen: set[str] = set()
    for index, level in enumerate(section.levels):
        where: Path = ("tiers", "levels", index)
        if level.code in seen:
            problem((*where, "code"), msg("duplicate tier code %(code)s", code=repr(level.code)))
            ok = False
        seen.add(level.code)
        entry = threshold(level.entry, (*where, "entry"))
        keep = threshold(level.keep, (*where, "keep")) if level.keep is not None else entry
        for name, bar in keep.parts():
            top = entry.as_dict().get(name)
            if top is None or bar > top:
                problem((*where, "keep", name), msg("the keep bar must not be above the entry bar"))
                ok = False
        if tiers and _below(entry, tiers[-1].entry):
            problem(
                (*where, "entry"),
                msg("tiers go from the lowest up: this bar is below the previous one"),
            )
            ok = False
        benefits = level.benefits
        tiers.append(
            Tier(
                level.code,
                level.name.ru,
                level.name.en,
                entry,
                keep,
                benefits.ru if benefits else "",
                benefits.en if benefits else "",
            )
        )
    plans: list[Plan] = []
    for index, paid in enumerate(section.paid):
        where = ("tiers", "paid", index)
        if any(p.code == paid.code for p in plans):
            problem((*where, "code"), msg("duplicate plan code %(code)s", code=repr(paid.code)))
            ok = False
        if paid.tier not in seen:
            problem(
                (*where, "tier"),
                msg(
                    "unknown tier %(tier)s; expected one of %(codes)s",
                    tier=repr(paid.tier),
                    codes=", ".join(t.code for t in tiers),
                ),
            )
            ok = False
        price = minor(paid.price, (*where, "price"))
        plans.append(
            Plan(
                paid.code,
                paid.tier,
                price or 0,
                paid.term.months or 0,
                paid.term.days or 0,
                paid.name.ru,
                paid.name.en,
            )
        )
    if not ok:
        return None
    return TierPolicy(
        tiers=tuple(tiers),
        combine=Combine(section.combine),
        window=WindowKind(section.window.kind),
        window_months=section.window.months or 12,
        downgrade=Downgrade(section.downgrade.mode),
        grace_days=section.downgrade.grace_days or 0,
        soft_landing=section.soft_landing,
        crossing_purchase_earns=section.crossing_purchase_earns,
        plans=tuple(plans),
        points_from=frozenset(PointsSource(s) for s in section.qualifying_points.from_)
        if section.qualifying_points
        else frozenset({PointsSource.PURCHASES}),
        review_schedule=ReviewSchedule(schedule) if schedule else None,
        downgrade_on_return=section.downgrade.on_return,
    )


def _below(bar: Threshold, previous: Threshold) -> bool:
    """Whether a bar asks less than the previous tier's on a metric both test."""
    prev = previous.as_dict()
    return any(name in prev and value < prev[name] for name, value in bar.parts())


def tier_policy(text: str, fmt: str) -> TierPolicy | None:
    """The tiers of a (published, so valid) rules document; ``None`` without a section.
    Errors, for a document never checked, name the line and field as the parser's do."""
    data, lines = load_with_lines(text, fmt)
    if not isinstance(data, dict):
        return None
    currency = data.get("currency", "RUB")
    errors: list[dict[str, Any]] = []

    def problem(loc: Path, message: str) -> None:
        path = resolve(loc, data)
        errors.append({"line": line_of(path, lines), "path": format_path(path), "message": message})

    policy = check_section(
        data.get("tiers"), currency if isinstance(currency, str) else "RUB", problem
    )
    if errors:
        shown = "; ".join(f"line {e['line']}: {e['path']}: {e['message']}" for e in errors[:5])
        raise ValidationError(f"invalid rules document: {shown}", errors=errors)
    return policy
