"""Recording a message in the caller's unit of work: the address looked up, consent, the
frequency cap and quiet hours applied, and the row written (queued, or suppressed with its
reason). Nothing is sent here: the ``messages`` job sends what is due, and
:func:`~kopilka.services.notifications.send.deliver_now` sends at once after the caller
committed."""

from __future__ import annotations

from datetime import datetime, timedelta

from kopilka.domain.errors import ValidationError
from kopilka.domain.identifiers import normalize
from kopilka.domain.member import Member, MemberStatus
from kopilka.domain.messages import msg
from kopilka.domain.notifications import (
    ADDRESS_KIND,
    LANGUAGES,
    MARKETING_CONSENT,
    Channel,
    MessageStatus,
    NotificationPolicy,
    Purpose,
    Suppressed,
    channel_for_address,
    mask_address,
)
from kopilka.domain.program import Program
from kopilka.services.notifications.commands import Notify, Recorded
from kopilka.services.notifications.policy import policy_in
from kopilka.services.notifications.topics import get_topic
from kopilka.store.repos.messages import MessageRepo, MessageRow, NewMessage
from kopilka.store.uow import UnitOfWork


def notify(uow: UnitOfWork, program: Program, command: Notify, at: datetime) -> Recorded:
    """Record ``command``'s message in ``uow`` (the caller commits it with its own change,
    so a message exists iff the change does). Raises ValidationError for an unknown topic,
    wrong variables or an address that is not one; a message that must not go is recorded
    ``suppressed`` with its reason, not refused."""
    if command.program_id != program.id:
        raise ValidationError(msg("the message is for another program"), field="program_id")
    repo = MessageRepo(uow.conn)
    if command.dedupe_key is not None:
        earlier = repo.by_dedupe_key(program.id, command.dedupe_key)
        if earlier is not None:
            return _recorded(earlier, duplicate=True)
    topic = get_topic(command.topic)
    variables = topic.check_variables(command.variables)
    purpose = command.purpose or topic.purpose
    urgent = topic.urgent if command.urgent is None else command.urgent
    policy = policy_in(uow, program.id)
    member = None if command.member_id is None else uow.members.get(program.id, command.member_id)
    channel, address = _address(command, member)
    reason = _suppressed(uow, policy, member, channel, purpose, address, at)
    if reason is None and command.topic in policy.disabled_topics:
        reason = Suppressed.TOPIC_OFF
    send_after = at if urgent else policy.quiet_hours.release_at(at, program.timezone)
    new = NewMessage(
        program_id=program.id,
        member_id=command.member_id,
        channel=str(channel),
        address=address,
        address_masked=None if address is None else mask_address(channel, address),
        topic=topic.key,
        purpose=str(purpose),
        locale=_locale(command, member, policy),
        variables=dict(variables),
        sensitive=list(topic.sensitive),
        urgent=urgent,
        status=MessageStatus.QUEUED if reason is None else MessageStatus.SUPPRESSED,
        reason=None if reason is None else str(reason),
        send_after=send_after,
        dedupe_key=command.dedupe_key,
        created_at=at,
    )
    message_id = repo.add(new)
    row = repo.get(program.id, message_id)
    assert row is not None  # just written in this transaction
    return _recorded(row, duplicate=False)


def _recorded(row: MessageRow, *, duplicate: bool) -> Recorded:
    return {
        "id": row.id,
        "status": row.status,
        "reason": row.reason,
        "channel": row.channel,
        "address_masked": row.address_masked,
        "send_after": row.send_after.isoformat(),
        "duplicate": duplicate,
    }


def _address(command: Notify, member: Member | None) -> tuple[Channel, str | None]:
    """The channel and the address (normalized), or None when the member has none."""
    if command.to_address is not None:
        channel = command.channel or channel_for_address(command.to_address)
        kind = ADDRESS_KIND[channel]
        return channel, (
            command.to_address.strip() if kind is None else normalize(kind, command.to_address)
        )
    assert member is not None  # Notify checks it has one or the other
    if member.erased_at is not None:
        return command.channel or Channel.EMAIL, None
    if command.channel is not None:
        kind = ADDRESS_KIND[command.channel]
        found = [] if kind is None else member.identifiers.get(str(kind), [])
        return command.channel, (found[0] if found else None)
    for channel in (Channel.EMAIL, Channel.SMS):
        found = member.identifiers.get(str(ADDRESS_KIND[channel]), [])
        if found:
            return channel, found[0]
    return Channel.EMAIL, None


def _suppressed(
    uow: UnitOfWork,
    policy: NotificationPolicy,
    member: Member | None,
    channel: Channel,
    purpose: Purpose,
    address: str | None,
    at: datetime,
) -> Suppressed | None:
    """Why the message must not go (None: it may). Transactional messages need only an
    address; marketing ones a member who consented on the channel and is under the cap."""
    if address is None:
        return Suppressed.NO_ADDRESS
    if purpose != Purpose.MARKETING:
        return None
    if member is None:
        return Suppressed.NO_CONSENT  # no member, so no consent to marketing
    if member.status != MemberStatus.ACTIVE or member.erased_at is not None:
        return Suppressed.BLOCKED
    latest = {c.purpose: c for c in uow.members.consents(member.id)}
    answer = latest.get(MARKETING_CONSENT[channel])
    if answer is None:
        return Suppressed.NO_CONSENT
    if not answer.granted:
        return Suppressed.UNSUBSCRIBED
    cap = policy.cap(channel)
    repo = MessageRepo(uow.conn)
    # without the lock, two messages recorded at once would both count the same earlier
    # ones and both go, one over the cap
    repo.lock_member(member.id)
    sent = repo.count_marketing_since(member.id, str(channel), at - timedelta(days=cap.days))
    if sent >= cap.count:
        return Suppressed.CAPPED
    return None


def _locale(command: Notify, member: Member | None, policy: NotificationPolicy) -> str:
    if command.locale is not None:
        return command.locale
    if member is not None:
        language = member.attributes.get("language")
        if isinstance(language, str) and language in LANGUAGES:
            return language
    return policy.default_language
