"""The rules editor's tiers (``/admin/rules``): the draft's ``tiers:`` section as a table
beside the editor (each level's names, the bar to reach it and the bar to keep it) and
the program's options in words (window, review, downgrade, qualifying points, returns),
in the page's language; or the section's errors at their lines when it cannot be read."""

from __future__ import annotations

from typing import Any

from kopilka.domain.errors import KopilkaError
from kopilka.domain.money import to_decimal
from kopilka.domain.tiers import (
    Combine,
    Downgrade,
    PointsSource,
    ReviewSchedule,
    Threshold,
    TierPolicy,
    WindowKind,
)
from kopilka.services import tiers as tiers_svc
from kopilka.web.i18n import N_, gettext, language, money, ngettext, number, tr

WINDOWS = {
    WindowKind.YEAR: N_("the calendar year"),
    WindowKind.QUARTER: N_("the calendar quarter"),
    WindowKind.LIFETIME: N_("all time"),
}
REVIEWS = {
    ReviewSchedule.PERIOD_END: N_("at the end of each calendar period"),
    ReviewSchedule.ANNIVERSARY: N_("on the anniversary of reaching the tier"),
    ReviewSchedule.ROLLING: N_("at every daily review (rolling)"),
}
SOURCES = {
    PointsSource.PURCHASES: N_("purchases"),
    PointsSource.EVENTS: N_("events"),
    PointsSource.ADJUSTMENTS: N_("adjustments"),
}


def bar_text(bar: Threshold, combine: Combine, currency: str) -> str:
    """A bar in words: "15,000.00 ₽ spent or 500 points"; empty for a bar testing nothing."""
    parts: list[str] = []
    for name, value in bar.parts():
        if name == "spend":
            spent = tr("%(amount)s spent", amount=money(to_decimal(value, currency), currency))
            parts.append(str(spent))
        elif name == "points":
            parts.append(
                ngettext("%(num)s point", "%(num)s points", value) % {"num": number(value)}
            )
        else:
            parts.append(
                ngettext("%(num)s purchase", "%(num)s purchases", value) % {"num": number(value)}
            )
    joiner = gettext(" or ") if combine is Combine.ANY else gettext(" and ")
    return joiner.join(parts)


def _window(policy: TierPolicy) -> str:
    if policy.window is WindowKind.ROLLING:
        n = policy.window_months
        return ngettext("the last %(num)s month", "the last %(num)s months", n) % {"num": n}
    return gettext(WINDOWS[policy.window])


def _downgrade(policy: TierPolicy) -> str:
    if policy.downgrade is Downgrade.NEVER:
        text = gettext("never: a tier once reached is kept")
    elif policy.downgrade is Downgrade.AT_REVIEW:
        text = gettext("at the review, when the keep bar is missed")
    else:
        n = policy.grace_days
        text = ngettext(
            "after %(num)s day of grace from the review that found the keep bar missed",
            "after %(num)s days of grace from the review that found the keep bar missed",
            n,
        ) % {"num": n}
    if policy.soft_landing:
        text += gettext("; one level at a time")
    return text


def options(policy: TierPolicy) -> list[tuple[str, str]]:
    """The program's tier options as (label, words), in the page's language."""
    sources = [gettext(SOURCES[s]) for s in PointsSource if policy.counts(s)]
    returns = (
        gettext("at once, when a return takes the member below the keep bar")
        if policy.downgrade_on_return
        else gettext("at the next review")
    )
    crossing = (
        gettext("at the new tier") if policy.crossing_purchase_earns else gettext("at the old tier")
    )
    return [
        (gettext("Counted over"), _window(policy)),
        (
            gettext("Bars combine"),
            gettext("any one metric is enough")
            if policy.combine is Combine.ANY
            else gettext("every metric is needed"),
        ),
        (gettext("Reviewed"), gettext(REVIEWS[policy.schedule])),
        (gettext("Downgrade"), _downgrade(policy)),
        (gettext("Qualifying points from"), ", ".join(sources)),
        (gettext("A return lowers the tier"), returns),
        (gettext("The purchase crossing a bar earns"), crossing),
    ]


def summary(document: str, fmt: str, currency: str) -> dict[str, Any] | None:
    """What the editor shows of a draft's tiers: ``rows`` and ``options``, or ``error``
    (the section's located errors) when it cannot be read; ``None`` without a section (or
    when the document itself cannot be read: that error is the editor's)."""
    try:
        policy = tiers_svc.draft_tiers(document, fmt)
    except KopilkaError as e:
        located = e.details.get("errors") if e.details else None
        return {"error": e} if located else None
    if policy is None:
        return None
    ru = language() == "ru"
    rows = [
        {
            "code": t.code,
            "name": t.name_ru if ru else t.name_en,
            "other": t.name_en if ru else t.name_ru,
            "entry": bar_text(t.entry, policy.combine, currency),
            "keep": bar_text(t.keep, policy.combine, currency),
            "benefits": t.benefits(language()),
        }
        for t in policy.tiers
    ]
    plans = [
        {"code": p.code, "tier": p.tier, "name": p.name_ru if ru else p.name_en}
        for p in policy.plans
    ]
    return {"error": None, "rows": rows, "options": options(policy), "plans": plans}
