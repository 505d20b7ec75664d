"""Member notifications, the pure part: channels, purposes, a message's statuses and the
reasons one is not sent, a program's notification policy (frequency caps, quiet hours,
languages) and the arithmetic of quiet hours in the program's time zone.

No I/O here: the services (``services/notifications/``) record, render and send.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from kopilka.domain.errors import ValidationError
from kopilka.domain.identifiers import IdentifierKind, mask
from kopilka.domain.messages import msg


class Channel(enum.StrEnum):
    """How a message reaches a member."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


class Purpose(enum.StrEnum):
    """Why a message is sent: ``transactional`` (a one-time code, a reminder of the
    member's own points) goes regardless of marketing consent; ``marketing`` only to a
    member who consented to marketing on that channel."""

    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


class MessageStatus(enum.StrEnum):
    """``queued``: waits for its time (quiet hours) or a sender; ``sent``: a channel took
    it; ``failed``: retries ran out; ``suppressed``: never to be sent (see
    :class:`Suppressed`)."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class Suppressed(enum.StrEnum):
    """Why a message was recorded but will never be sent."""

    NO_CONSENT = "no_consent"  # marketing to a member never asked on that channel
    UNSUBSCRIBED = "unsubscribed"  # marketing to a member who withdrew that consent
    CAPPED = "capped"  # the member's marketing cap on that channel is reached
    NO_ADDRESS = "no_address"  # no e-mail, phone or device to send to
    BLOCKED = "blocked"  # marketing to a blocked or erased member
    TOPIC_OFF = "topic_off"  # the program switched the topic off


# the consent purpose (services/members.py CONSENT_PURPOSES) marketing on a channel needs
MARKETING_CONSENT: dict[Channel, str] = {
    Channel.EMAIL: "marketing_email",
    Channel.SMS: "marketing_sms",
    Channel.PUSH: "push",
}

# the member identifier kind that holds a channel's address (push: a device token the
# caller passes as ``to_address``; members have no push identifier yet)
ADDRESS_KIND: dict[Channel, IdentifierKind | None] = {
    Channel.EMAIL: IdentifierKind.EMAIL,
    Channel.SMS: IdentifierKind.PHONE,
    Channel.PUSH: None,
}

LANGUAGES = ("ru", "en")


def mask_address(channel: Channel | str, address: str) -> str:
    """An address as the console and the logs show it: ``i***@example.org``,
    ``*******4567``, a device token's last four characters."""
    kind = IdentifierKind.EMAIL if str(channel) == Channel.EMAIL else IdentifierKind.PHONE
    return mask(kind, address)


def channel_for_address(address: str) -> Channel:
    """The channel an address given without one goes by: e-mail when it has an ``@``,
    otherwise SMS."""
    return Channel.EMAIL if "@" in address else Channel.SMS


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local times between which nothing is sent but urgent messages (one-time codes):
    ``start`` 21:00 and ``end`` 09:00 span midnight; ``start == end`` means none."""

    start: time
    end: time

    @classmethod
    def never(cls) -> QuietHours:
        """No quiet hours at all."""
        return cls(time(0), time(0))

    def contains(self, local: time) -> bool:
        """Whether a local wall-clock time is inside the quiet hours."""
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def release_at(self, at: datetime, timezone: str) -> datetime:
        """``at`` itself when it is outside the quiet hours, otherwise when they end (in
        the program's time zone ``timezone``; the answer in UTC like ``at``)."""
        zone = ZoneInfo(timezone)
        local = at.astimezone(zone)
        if not self.contains(local.time()):
            return at
        end = local.replace(
            hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0, tzinfo=None
        )
        if end.time() <= local.time().replace(tzinfo=None):
            end += timedelta(days=1)
        # a wall-clock time read in the zone (a DST gap moves it forward, as fold=0 does)
        return end.replace(tzinfo=zone).astimezone(at.tzinfo)


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``count`` marketing messages per member per channel in ``days`` days
    (``count`` 0: none at all)."""

    count: int = 2
    days: int = 7

    def __post_init__(self) -> None:
        if not 0 <= self.count <= 1000:
            raise ValidationError(msg("a frequency cap's count must be 0-1000"), field="cap_count")
        if not 1 <= self.days <= 366:
            raise ValidationError(
                msg("a frequency cap's period must be 1-366 days"), field="cap_days"
            )


@dataclass(frozen=True, slots=True)
class NotificationPolicy:
    """A program's notification settings: the marketing cap per channel, quiet hours,
    the language a member without one is written to, and which reminder topics are on.
    Validated on construction (the console's form and the API build one)."""

    caps: dict[Channel, FrequencyCap] = field(
        default_factory=lambda: {c: FrequencyCap() for c in Channel}
    )
    quiet_hours: QuietHours = field(default_factory=lambda: QuietHours(time(21), time(9)))
    default_language: str = "ru"
    disabled_topics: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.default_language not in LANGUAGES:
            raise ValidationError(
                msg("the language must be one of: %(languages)s", languages=", ".join(LANGUAGES)),
                field="default_language",
            )

    def cap(self, channel: Channel) -> FrequencyCap:
        """The marketing cap on ``channel`` (the default, 2 in 7 days, when unset)."""
        return self.caps.get(channel, FrequencyCap())

    def to_json(self) -> dict[str, object]:
        """The stored form (``notification_settings.settings``)."""
        return {
            "caps": {str(c): {"count": v.count, "days": v.days} for c, v in self.caps.items()},
            "quiet_hours": {
                "start": self.quiet_hours.start.strftime("%H:%M"),
                "end": self.quiet_hours.end.strftime("%H:%M"),
            },
            "default_language": self.default_language,
            "disabled_topics": sorted(self.disabled_topics),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> NotificationPolicy:
        """Read the stored form back (or a form's values, validated: ValidationError)."""
        caps_in = data.get("caps") or {}
        quiet = data.get("quiet_hours") or {}
        if not isinstance(caps_in, dict) or not isinstance(quiet, dict):
            raise ValidationError(msg("notification settings are malformed"), field="settings")
        caps: dict[Channel, FrequencyCap] = {}
        for name, cap in caps_in.items():
            try:
                channel = Channel(name)
            except ValueError:
                raise ValidationError(
                    msg("unknown channel %(channel)s", channel=repr(name)), field="caps"
                ) from None
            if not isinstance(cap, dict):
                raise ValidationError(msg("notification settings are malformed"), field="caps")
            caps[channel] = FrequencyCap(int(cap.get("count", 2)), int(cap.get("days", 7)))
        topics = data.get("disabled_topics") or []
        if not isinstance(topics, list):
            raise ValidationError(msg("notification settings are malformed"), field="topics")
        return cls(
            caps={**{c: FrequencyCap() for c in Channel}, **caps},
            quiet_hours=QuietHours(
                parse_clock(str(quiet.get("start", "21:00")), "quiet_start"),
                parse_clock(str(quiet.get("end", "09:00")), "quiet_end"),
            ),
            default_language=str(data.get("default_language", "ru")),
            disabled_topics=frozenset(str(t) for t in topics),
        )


def parse_clock(text: str, field_name: str) -> time:
    """``HH:MM`` read as a wall-clock time, or a ValidationError naming ``field_name``."""
    found = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    if found is None:
        raise ValidationError(
            msg("%(value)s is not a time of day (HH:MM)", value=repr(text)), field=field_name
        )
    return time(int(found[1]), int(found[2]))
