"""Demo members: realistic, reproducible profiles from a seeded random generator."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from kopilka.demo.names import EMAIL_DOMAINS, FEMALE_FIRST, MALE_FIRST, SURNAMES, translit
from kopilka.services.members import (
    CONSENT_PURPOSES,
    ConsentChoice,
    Enroll,
    Profile,
    identifiers,
)


@dataclass
class Person:
    """A demo member: who they are, and (once enrolled) what the demo tracks about them."""

    number: int
    first_name: str
    last_name: str
    gender: str
    birthday: date
    card: str
    phone: str | None
    email: str | None
    # (purpose, granted)
    consents: list[tuple[str, bool]]
    enrolled_at: datetime
    # filled while the demo runs
    member_id: int = 0
    available: int = 0
    # receipt id -> its line ids, for returns
    receipts: dict[str, list[str]] = field(default_factory=dict)

    def enrollment(self, channel: str) -> Enroll:
        """Enrolling this person at ``channel``: card, phone and e-mail, profile, consents."""
        return Enroll(
            identifiers=identifiers(
                (kind, value)
                for kind, value in (
                    ("card", self.card),
                    ("phone", self.phone),
                    ("email", self.email),
                )
                if value
            ),
            profile=Profile(
                first_name=self.first_name,
                last_name=self.last_name,
                gender=self.gender,
                birthday=self.birthday,
            ),
            consents=tuple(ConsentChoice(purpose, granted) for purpose, granted in self.consents),
            channel=channel,
        )


def make_person(number: int, rng: random.Random, start: datetime, end: datetime) -> Person:
    """The ``number``-th demo member, enrolled somewhere between ``start`` and ``end``."""
    female = rng.random() < 0.58  # grocery loyalty members skew female
    first = rng.choice(FEMALE_FIRST if female else MALE_FIRST)
    last = rng.choice(SURNAMES)[1 if female else 0]
    age_days = rng.randint(18 * 365, 75 * 365)
    birthday = (end - timedelta(days=age_days)).date()
    # the last seven digits are a bijection of the number, so phones never collide
    phone = f"+79{rng.randint(0, 99):02d}{number * 7919 % 10_000_000:07d}"
    email = (
        f"{translit(first)}.{translit(last)}{number}@{rng.choice(EMAIL_DOMAINS)}"
        if rng.random() < 0.7
        else None
    )
    consents = [("personal_data", True)]
    for purpose in CONSENT_PURPOSES[1:]:
        if rng.random() < 0.8:
            consents.append((purpose, rng.random() < 0.6))
    # more members joined early: the program was launched with a campaign
    span = (end - start).total_seconds()
    enrolled_at = start + timedelta(seconds=span * rng.random() ** 1.6 * 0.9)
    return Person(
        number=number,
        first_name=first,
        last_name=last,
        gender="female" if female else "male",
        birthday=birthday,
        card=f"2770{number:09d}",
        phone=phone if rng.random() < 0.9 else None,
        email=email,
        consents=consents,
        enrolled_at=enrolled_at.replace(microsecond=0),
    )
