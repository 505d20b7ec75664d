"""The typed command a caller records a message with, and what recording answered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.notifications import LANGUAGES, Channel, Purpose


@dataclass(frozen=True, slots=True)
class Notify:
    """A message to record: to a member (``member_id``: their address on the channel is
    looked up) or to an address (``to_address``: a phone or an e-mail address of someone
    not yet a member, or a push device token; with a member too, it replaces the looked-up
    one). ``channel`` None: the address's (``@``: e-mail, otherwise SMS), or for a member
    e-mail when they have one, else SMS. ``topic``: a registered topic
    (:mod:`~kopilka.services.notifications.topics`), ``variables`` exactly its variables.
    ``purpose`` None: the topic's. ``locale`` None: the member's ``language`` attribute,
    else the program's default. ``dedupe_key``: a second Notify with the same key in the
    program records nothing and answers the first message. ``urgent`` None: the topic's
    (urgent messages are sent during quiet hours)."""

    program_id: int
    topic: str
    variables: Mapping[str, object] = field(default_factory=dict)
    member_id: int | None = None
    to_address: str | None = None
    channel: Channel | None = None
    purpose: Purpose | None = None
    dedupe_key: str | None = None
    locale: str | None = None
    urgent: bool | None = None

    def __post_init__(self) -> None:
        if self.member_id is None and not self.to_address:
            raise ValidationError(msg("a message needs a member or an address"), field="to_address")
        if self.to_address is not None and not 3 <= len(self.to_address) <= 254:
            raise ValidationError(msg("an address must be 3-254 characters"), field="to_address")
        if self.locale is not None and self.locale not in LANGUAGES:
            raise ValidationError(
                msg("the language must be one of: %(languages)s", languages=", ".join(LANGUAGES)),
                field="locale",
            )
        if self.dedupe_key is not None and not 1 <= len(self.dedupe_key) <= 200:
            raise ValidationError(msg("a dedupe key must be 1-200 characters"), field="dedupe_key")


class Recorded(TypedDict):
    """What :func:`~kopilka.services.notifications.notify` recorded: the message's ``id``,
    its ``status`` (``queued`` or ``suppressed``), the ``reason`` when suppressed, the
    ``channel``, the masked address, when it may be sent (``send_after``, ISO 8601: the end
    of quiet hours, or now) and whether it is the earlier message of the same dedupe key
    (``duplicate``)."""

    id: int
    status: str
    reason: str | None
    channel: str
    address_masked: str | None
    send_after: str
    duplicate: bool


class Delivered(TypedDict):
    """One message's sending by :func:`~kopilka.services.notifications.deliver_now` or the
    ``messages`` job: ``status`` ``sent``, ``queued`` (a failed attempt, retried later, or
    not yet due), ``failed`` (for good) or ``skipped`` (not queued, or another sender has
    it); ``error``: the channel's error, never personal data."""

    id: int
    status: str
    error: str | None
