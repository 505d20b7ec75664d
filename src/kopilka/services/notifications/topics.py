"""Topics: what a message is about (``otp_code``, ``expiry_reminder``, ...), each with the
variables its templates are given (and a sample of each, for the console's preview and the
checks of an edited template), its default purpose, and whether it is urgent (sent during
quiet hours, as a one-time code must be).

Every template also gets the common variables :data:`COMMON_VARIABLES`. A capability adds
a topic with one :func:`register_topic` call and ships its default templates as files under
``templates/<language>/<topic>.{subject,html,txt}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.notifications import Purpose

# a variable's value: what JSON stores
Value = str | int | float | bool | None

# given to every template: the program's name, the member's first name ("" when unknown),
# the portal's address, and the unsubscribe link (marketing messages; None otherwise)
COMMON_VARIABLES: dict[str, Value] = {
    "program_name": "Kopilka",
    "first_name": "Anna",
    "portal_url": "https://loyalty.example.org/portal",
    "unsubscribe_url": "https://loyalty.example.org/portal/unsubscribe/sample-token",
}


@dataclass(frozen=True, slots=True)
class Topic:
    """A kind of message: its ``key``, its variables with a sample value each, its
    default ``purpose``, whether it is ``urgent`` and what it is for (the console's
    words)."""

    key: str
    variables: Mapping[str, Value]
    purpose: Purpose = Purpose.TRANSACTIONAL
    urgent: bool = False
    description: str = ""
    # variables erased from the messages log once the message is sent (a one-time code)
    sensitive: tuple[str, ...] = field(default=())

    def check_variables(self, given: Mapping[str, object]) -> dict[str, Value]:
        """The variables as stored: every one of the topic's present, no other, each a
        plain JSON value; a ValidationError naming the first that is not."""
        missing = [n for n in self.variables if n not in given]
        if missing:
            raise ValidationError(
                msg(
                    "the %(topic)s message needs the variable %(name)s",
                    topic=self.key,
                    name=missing[0],
                ),
                field="variables",
            )
        unknown = sorted(set(given) - set(self.variables))
        if unknown:
            raise ValidationError(
                msg(
                    "the %(topic)s message has no variable %(name)s",
                    topic=self.key,
                    name=unknown[0],
                ),
                field="variables",
            )
        out: dict[str, Value] = {}
        for name, value in given.items():
            if value is not None and not isinstance(value, str | int | float | bool):
                raise ValidationError(
                    msg("the variable %(name)s must be text or a number", name=name),
                    field="variables",
                )
            out[name] = value
        return out


TOPICS: dict[str, Topic] = {}


def register_topic(topic: Topic) -> Topic:
    """Make ``topic`` one a :class:`~kopilka.services.notifications.Notify` may name (its
    default templates must ship in both languages)."""
    if topic.key in TOPICS and TOPICS[topic.key] != topic:
        raise ValueError(f"topic {topic.key!r} is registered already")
    TOPICS[topic.key] = topic
    return topic


def get_topic(key: str) -> Topic:
    """The registered topic ``key``, or a ValidationError naming the topics."""
    topic = TOPICS.get(key)
    if topic is None:
        raise ValidationError(
            msg(
                "unknown topic %(topic)s; the topics are: %(topics)s",
                topic=repr(key),
                topics=", ".join(sorted(TOPICS)),
            ),
            field="topic",
        )
    return topic


OTP_CODE = register_topic(
    Topic(
        "otp_code",
        {"code": "482913", "minutes": 10},
        urgent=True,
        description="a one-time code to confirm a phone or an e-mail address",
        sensitive=("code",),
    )
)
EXPIRY_REMINDER = register_topic(
    Topic(
        "expiry_reminder",
        {"points": 120, "date": "31.03.2027", "balance": 560},
        description="points that expire soon, with their date",
    )
)
WINBACK = register_topic(
    Topic(
        "winback",
        {"days": 60, "balance": 560},
        purpose=Purpose.MARKETING,
        description="no purchase for a while: the points that wait",
    )
)
BIRTHDAY_GREETING = register_topic(
    Topic(
        "birthday_greeting",
        {"bonus_points": 200},
        purpose=Purpose.MARKETING,
        description="a birthday greeting (and its bonus, if any)",
    )
)
TIER_DROP = register_topic(
    Topic(
        "tier_drop",
        {"tier": "Gold", "next_tier": "Silver", "date": "30.06.2027", "needed": "5 000 ₽"},
        description="the member's tier will drop on a date unless they buy more",
    )
)
