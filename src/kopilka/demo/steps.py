"""The demo's steps, in order. Each is idempotent and returns a one-line summary."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from kopilka.demo.activities import ACTIVITIES
from kopilka.demo.apikeys import api_keys
from kopilka.demo.model import Action, Demo, Step
from kopilka.demo.people import make_person
from kopilka.demo.showcase import (
    personal,
    reminders_on,
    rewards_catalog,
    self_enrolment_on,
    sign_in_code,
)
from kopilka.domain.errors import NotFoundError
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.domain.member import MemberStatus
from kopilka.domain.money import Rounding
from kopilka.domain.program import NegativeBalancePolicy, RestorePolicy
from kopilka.services import audit, back_office
from kopilka.services import members as member_svc
from kopilka.services import programs as program_svc
from kopilka.services import rules as rules_svc
from kopilka.services.back_office import SetBlocked

RULES = Path(__file__).parent.parent / "domain" / "rules" / "examples" / "grocery.yaml"


def grocery(code: str) -> program_svc.CreateProgram:
    """The demo's grocery program, under ``code``."""
    return program_svc.CreateProgram(
        code=code,
        name="Продуктовый: бонусы за покупки",
        currency="RUB",
        point_value_minor=100,  # 1 point = 1 RUB
        rounding=Rounding.DOWN,
        timezone="Europe/Moscow",
        expiry=ExpiryPolicy(ExpiryKind.MONTHS_END, 12),
        # points become spendable after the 14-day return window
        activation_delay=timedelta(days=14),
        negative_balance=NegativeBalancePolicy.FORGIVE,
        # a return gives back spent points only while they are still valid (the default)
        restore_policy=RestorePolicy.EXPIRE,
        hold_ttl=timedelta(seconds=900),
    )


def ensure_program(demo: Demo) -> str:
    """The grocery program, created on the first run."""
    demo.clock.set(demo.start)
    try:
        demo.program = program_svc.get_program(demo.ctx, demo.config.program_code)
        return f"program {demo.prog.code} already there"
    except NotFoundError:
        demo.program = program_svc.create_program(demo.ctx, grocery(demo.config.program_code))
        demo.created_program = True
        return f"program {demo.prog.code} created"


def publish_rules(demo: Demo) -> str:
    """The grocery rules document: version 1 from the start of the timeline, and a
    version 2 half-way through (own brand earns x2 instead of x1.5)."""
    if rules_svc.list_versions(demo.ctx, demo.prog):
        return "rules already published"
    document = RULES.read_text(encoding="utf-8")
    demo.clock.set(demo.start)
    _publish(demo, 1, document)
    half_way = demo.start + (demo.end - demo.start) / 2
    demo.clock.set(half_way)
    v2 = document.replace('factor: "1.5"', "factor: 2").replace(
        "Собственная марка: баллы x1.5", "Собственная марка: баллы x2"
    )
    _publish(demo, 2, _with_personal_rules(v2, demo.end))
    demo.clock.set(demo.start)
    return "rules versions 1 and 2 published (2 adds a personal offer and favourite categories)"


# version 2's own rules, not in grocery.yaml: the purchase benchmark (bench/) books on
# that document, and its costs stay comparable across recorded runs
PERSONAL_RULES = """
  - id: grocery-x3
    kind: multiplier
    description: "Персональное предложение: баллы x3 на бакалею (кофе, чай, крупы), активируйте его"
    factor: 3
    scope: {{categories: [grocery]}}
    offer:
      audience: {{everyone: true}}
      requires_activation: true
      window: {{from: {start}, to: {end}}}

  - id: favourites
    kind: favourite_categories
    description: "Ваши 2 любимые категории: баллы x2"
    choose: 2
    from: [dairy, bread, fruit, vegetables, meat, household]
    factor: 2
    period: month
"""


def _with_personal_rules(document: str, today: datetime) -> str:
    """``document`` with a personal offer to activate (open from a week before ``today``
    for three weeks) and a favourite-categories rule, added at the end of its rules."""
    marker = "\n# codes a purchase may carry"
    assert marker in document, "grocery.yaml's promo codes follow its rules"
    start = (today - timedelta(days=7)).date().isoformat()
    end = (today + timedelta(days=14)).date().isoformat()
    added = PERSONAL_RULES.format(start=start, end=end)
    return document.replace(marker, added.rstrip("\n") + "\n" + marker, 1)


def _publish(demo: Demo, version: int, document: str) -> None:
    # audited, as every back-office write (the clock is at the version's effective time)
    back_office.publish_rules(
        demo.ctx,
        demo.prog,
        document,
        fmt="yaml",
        effective_at=None,
        key=demo.key("rules", version),
        actor="marketer:demo",
    )


def make_people(demo: Demo) -> str:
    """The demo's members, reproducible from the seed."""
    demo.people = [
        make_person(n, demo.rng("person", n), demo.start, demo.end)
        for n in range(1, demo.config.members + 1)
    ]
    return f"{len(demo.people)} members drawn"


def play_timeline(demo: Demo) -> str:
    """Every member's activities, run in time order with the clock at each event."""
    events: list[tuple[datetime, int, Action]] = []
    for person in demo.people:
        for activity in ACTIVITIES:
            rng = demo.rng(activity.__name__, person.number)
            for at, action in activity(demo, person, rng):
                events.append((at, len(events), action))
    events.sort(key=lambda e: (e[0], e[1]))
    with demo.progress("history", len(events)) as advance:
        for at, _, action in events:
            demo.clock.set(at)
            action(demo)
            advance(1)
    return f"{len(events)} events over {demo.config.months} months"


def block_fraud(demo: Demo) -> str:
    """A couple of members blocked by the fraud team, with a reason."""
    demo.clock.set(demo.end)
    rng = demo.rng("fraud")
    suspects = rng.sample(demo.people, k=max(1, len(demo.people) // 150))
    for person in suspects:
        member = member_svc.get_member(demo.ctx, demo.prog, person.member_id)
        if member.status != MemberStatus.BLOCKED:
            back_office.set_blocked(  # audited, as every back-office write
                demo.ctx,
                demo.prog,
                SetBlocked(
                    person.member_id,
                    True,
                    "fraud check: many cards used with one phone",
                    key=demo.key(person.number, "block"),
                    actor="support:fraud-team",
                ),
                answer=lambda _inner: {"blocked": True},
            )
    demo.stats["members blocked"] = len(suspects)
    return f"{len(suspects)} members blocked"


def sweeps(demo: Demo) -> str:
    """Timed-out holds ended, due points activated, due points expired, as of today."""
    demo.clock.set(demo.end)
    counts = {}
    for name, job in (
        ("holds timed out", "expire-holds"),
        ("lots activated", "activate"),
        ("lots expired", "expire"),
    ):
        with demo.progress(name, None) as advance:
            # audited as job.<name>, as every back-office write; a rerun within the hour
            # (the same demo.end, the same key) replays the outcome
            done = back_office.run_job(
                demo.ctx,
                demo.prog,
                job,
                demo.end,
                key=demo.key("sweep", job, demo.end.isoformat()),
                actor="cron:demo",
                progress=advance,
            )
            counts[name] = int(done["handled"])
        demo.stats[f"sweep: {name}"] += counts[name]
    return ", ".join(f"{n} {name}" for name, n in counts.items())


def verify(demo: Demo) -> str:
    """The ledger invariants over the whole database."""
    demo.report = audit.verify_ledger(demo.ctx)
    failed = [c.name for c in demo.report.checks if not c.ok]
    return "ledger verified" if not failed else f"ledger NOT verified: {', '.join(failed)}"


STEPS: list[Step] = [
    ensure_program,
    publish_rules,
    make_people,
    play_timeline,
    block_fraud,
    sweeps,
    rewards_catalog,
    personal,
    reminders_on,
    sign_in_code,
    self_enrolment_on,
    verify,
    api_keys,
]
"""The demo, in order; append a step to extend it."""
