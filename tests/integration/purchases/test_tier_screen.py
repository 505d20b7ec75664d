"""The database's screen of a review's or recompute's batch (``TierRepo.batch`` with a
``Screen``) only ever passes over members that the Python decision leaves unchanged, for
members in every kind of state: no tier, each tier, a code the rules no longer have, a
manual floor, a grace period, a stored tier that differs from the earned one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kopilka.domain.tiers import Metrics
from kopilka.services import purchases, tiers
from kopilka.store.repos.tiers import TierRepo
from tests import commands

from .conftest import basket

DOCUMENT = """
schema_version: 1
rules:
  - {id: base, kind: rate, rate: {percent: 5}}
tiers:
  window: {kind: calendar_year}
  combine: %(combine)s
  downgrade: %(downgrade)s
  levels:
    - {code: basic, name: {ru: Базовый, en: Basic}}
    - code: silver
      name: {ru: Серебряный, en: Silver}
      entry: {spend: "1000"}
      keep: {spend: "500"}
    - code: gold
      name: {ru: Золотой, en: Gold}
      entry: {spend: "5000", purchases: 3}
      keep: {spend: "3000"}
"""

# purchases (RUB) of each kind of member this year
SPENDS = ([], ["600"], ["1500"], ["2000", "2000", "2000"])
# (earned tier, manual floor, in grace, stored tier differs from the earned one)
STATES = (
    (None, None, False, False),
    ("basic", None, False, False),
    ("silver", None, False, False),
    ("gold", None, False, False),
    ("gone", None, False, False),
    ("silver", "gold", False, False),
    ("gold", None, True, False),
    ("silver", None, False, True),
)


def _place(ctx, program, member_id, earned, manual, grace, differs, at) -> None:
    with ctx.uow() as uow:
        repo = TierRepo(uow.conn)
        standing = repo.standing(member_id)
        standing.earned_tier, standing.manual_tier = earned, manual
        standing.grace_since = at if grace else None
        repo.save(program.id, standing, at)
        code = tiers.effective_of(tiers.tiers_at(uow, program, at).policy, standing, at)
        repo.set_tier_code(member_id, "basic" if differs else code)
        uow.commit()


def members_in_every_state(ctx, clock, program, make_member) -> list[int]:
    """A member for each of SPENDS and STATES, in id order: their purchases bought, then
    their standing and stored tier placed."""
    ids = []
    for spends in SPENDS:
        for earned, manual, grace, differs in STATES:
            m = make_member(program)
            for amount in spends:
                body = basket(m, ("1", amount, "food"))
                purchases.commit(ctx, program, commands.purchase(ctx, program, body))
            _place(ctx, program, m, earned, manual, grace, differs, clock.now())
            ids.append(m)
    return ids


@pytest.mark.parametrize(
    ("combine", "downgrade"),
    [("any", "{mode: after_grace, grace_days: 30}"), ("all", "{mode: never}")],
)
def test_the_screen_passes_over_only_unchanged_members(
    ctx, clock, rules_program, make_member, combine, downgrade
) -> None:
    """For a recompute now and a review at the year's end, every member the screen
    leaves out is one that ``_review_one`` would count unchanged and write nothing for;
    the screen leaves out some members, and keeps every member whose tier moves."""
    program = rules_program(DOCUMENT % {"combine": combine, "downgrade": downgrade})
    ids = members_in_every_state(ctx, clock, program, make_member)
    year_end = datetime(2027, 1, 1, tzinfo=UTC)
    for recompute, as_of in ((True, clock.now()), (False, year_end)):
        with ctx.uow() as uow:
            found = tiers.tiers_at(uow, program, as_of)
            assert found is not None
            policy = found.policy
            repo = TierRepo(uow.conn)
            judged, current = tiers._windows(policy, program, as_of, recompute=recompute)
            read = {
                "program_id": program.id,
                "first": ids[0],
                "last": ids[-1],
                "judged": judged,
                "current": current,
                "purchase_points": True,
            }
            every = repo.batch(**read)
            screen = tiers._screen(policy, recompute=recompute)
            assert screen is not None
            kept = {r.standing.member_id for r in repo.batch(**read, screen=screen)}
            assert len(every) == len(ids)
            assert 0 < len(kept) < len(every)
            for row in every:
                report: tiers.ReviewReport = {
                    "program": program.code,
                    "as_of": as_of.isoformat(),
                    "dry_run": True,
                    "members": 0,
                    "upgraded": 0,
                    "downgraded": 0,
                    "entered_grace": 0,
                    "unchanged": 0,
                    "changes": [],
                }
                writes = tiers._Writes()
                member = tiers._Member(
                    row.standing,
                    row.tier_code,
                    Metrics(*row.judged),
                    Metrics(*row.current) if row.current is not None else None,
                )
                tiers._review_one(
                    uow,
                    repo,
                    program,
                    found,
                    member,
                    as_of,
                    report,
                    writes,
                    tiers._Rises(policy),
                    recompute=recompute,
                )
                moved = report["unchanged"] == 0 or writes.standings or writes.changes
                if row.standing.member_id not in kept:
                    assert not moved, (recompute, row)
            uow.rollback()
