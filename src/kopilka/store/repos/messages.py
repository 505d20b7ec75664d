"""Member notifications' rows: the messages log, a program's own templates and its
notification policy.

Queued messages are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite
has one writer; the clause is not rendered there) and leased, so a worker's ``messages`` job
and a ``deliver_now`` call never send the same message twice at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from kopilka.store.repos import new_id
from kopilka.store.tables import members, message_templates, messages, notification_settings

QUEUED, SENT, FAILED, SUPPRESSED = "queued", "sent", "failed", "suppressed"


@dataclass(frozen=True, slots=True)
class NewMessage:
    program_id: int
    member_id: int | None
    channel: str
    address: str | None
    address_masked: str | None
    topic: str
    purpose: str
    locale: str
    variables: dict[str, Any]
    sensitive: list[str]
    urgent: bool
    status: str
    reason: str | None
    send_after: datetime
    dedupe_key: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    program_id: int
    member_id: int | None
    channel: str
    address: str | None
    address_masked: str | None
    topic: str
    purpose: str
    locale: str
    subject: str | None
    variables: dict[str, Any]
    sensitive: list[str]
    urgent: bool
    status: str
    reason: str | None
    attempts: int
    error: str | None
    send_after: datetime
    provider_ref: str | None
    dedupe_key: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class TemplateRow:
    program_id: int
    topic: str
    language: str
    subject: str
    html: str
    text: str
    updated_at: datetime
    updated_by: str


def _message(r: Any) -> MessageRow:
    return MessageRow(
        int(r.id),
        int(r.program_id),
        None if r.member_id is None else int(r.member_id),
        r.channel,
        r.address,
        r.address_masked,
        r.topic,
        r.purpose,
        r.locale,
        r.subject,
        dict(r.variables or {}),
        list(r.sensitive or []),
        bool(r.urgent),
        r.status,
        r.reason,
        int(r.attempts),
        r.error,
        r.send_after,
        r.provider_ref,
        r.dedupe_key,
        r.created_at,
        r.sent_at,
    )


_M = messages.c


class MessageRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, m: NewMessage) -> int:
        """Record a message (its id)."""
        return new_id(
            self.conn.execute(
                insert(messages).values(
                    program_id=m.program_id,
                    member_id=m.member_id,
                    channel=m.channel,
                    address=m.address,
                    address_masked=m.address_masked,
                    topic=m.topic,
                    purpose=m.purpose,
                    locale=m.locale,
                    variables=m.variables,
                    sensitive=m.sensitive,
                    urgent=m.urgent,
                    status=m.status,
                    reason=m.reason,
                    attempts=0,
                    send_after=m.send_after,
                    dedupe_key=m.dedupe_key,
                    created_at=m.created_at,
                )
            )
        )

    def get(self, program_id: int, message_id: int) -> MessageRow | None:
        row = self.conn.execute(
            select(messages).where(_M.program_id == program_id, _M.id == message_id)
        ).first()
        return None if row is None else _message(row)

    def by_dedupe_key(self, program_id: int, key: str) -> MessageRow | None:
        row = self.conn.execute(
            select(messages).where(_M.program_id == program_id, _M.dedupe_key == key)
        ).first()
        return None if row is None else _message(row)

    def for_member(self, program_id: int, member_id: int, limit: int) -> list[MessageRow]:
        """A member's messages, newest first."""
        q = (
            select(messages)
            .where(_M.program_id == program_id, _M.member_id == member_id)
            .order_by(_M.id.desc())
            .limit(limit)
        )
        return [_message(r) for r in self.conn.execute(q)]

    def lock_member(self, member_id: int) -> None:
        """Hold the member's row until the transaction ends, so that two messages recorded
        at once for one member are counted against the frequency cap one after the other
        (PostgreSQL's ``FOR NO KEY UPDATE``: rows that only reference the member, such as
        journal entries, are still written meanwhile). SQLite serialises writing
        transactions already, and renders no lock."""
        q = select(members.c.id).where(members.c.id == member_id).with_for_update(key_share=True)
        self.conn.execute(q)

    def count_marketing_since(self, member_id: int, channel: str, since: datetime) -> int:
        """Marketing messages on ``channel`` queued or sent to the member since ``since``
        (what a frequency cap counts; suppressed and failed ones do not count)."""
        q = select(func.count()).where(
            _M.member_id == member_id,
            _M.channel == channel,
            _M.purpose == "marketing",
            _M.created_at >= since,
            _M.status.in_([QUEUED, SENT]),
        )
        return int(self.conn.execute(q).scalar_one())

    def claim(
        self,
        program_id: int,
        holder: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        ids: Sequence[int] | None = None,
    ) -> list[MessageRow]:
        """Lease up to ``limit`` queued messages due at ``now`` (only ``ids``, when given),
        oldest first; a message leased by another, unexpired, is not taken."""
        where = [
            _M.program_id == program_id,
            _M.status == QUEUED,
            _M.send_after <= now,
            or_(_M.lease_expires_at.is_(None), _M.lease_expires_at <= now),
        ]
        if ids is not None:
            where.append(_M.id.in_(list(ids)))
        q = (
            select(_M.id)
            .where(and_(*where))
            .order_by(_M.send_after, _M.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        taken = [int(i) for i in self.conn.execute(q).scalars()]
        if not taken:
            return []
        self.conn.execute(
            update(messages)
            .where(_M.id.in_(taken))
            .values(lease_holder=holder, lease_expires_at=lease_until)
        )
        rows = self.conn.execute(select(messages).where(_M.id.in_(taken)).order_by(_M.id))
        return [_message(r) for r in rows]

    def mark_sent(
        self,
        message_id: int,
        holder: str,
        subject: str | None,
        provider_ref: str | None,
        variables: dict[str, Any],
        at: datetime,
    ) -> bool:
        """Record a sending (only by the lease's holder: False when it lost the lease)."""
        done = self.conn.execute(
            update(messages)
            .where(_M.id == message_id, _M.lease_holder == holder, _M.status == QUEUED)
            .values(
                status=SENT,
                subject=subject,
                provider_ref=provider_ref,
                variables=variables,
                attempts=_M.attempts + 1,
                error=None,
                sent_at=at,
                lease_holder=None,
                lease_expires_at=None,
            )
        )
        return bool(done.rowcount)

    def mark_attempt_failed(
        self,
        message_id: int,
        holder: str,
        error: str,
        retry_at: datetime | None,
        variables: dict[str, Any],
    ) -> bool:
        """Record a failed attempt: queued again for ``retry_at``, or failed for good
        (``retry_at`` None)."""
        values: dict[str, Any] = {
            "attempts": _M.attempts + 1,
            "error": error[:500],
            "lease_holder": None,
            "lease_expires_at": None,
            "variables": variables,
        }
        if retry_at is None:
            values["status"] = FAILED
        else:
            values["send_after"] = retry_at
        done = self.conn.execute(
            update(messages)
            .where(_M.id == message_id, _M.lease_holder == holder, _M.status == QUEUED)
            .values(**values)
        )
        return bool(done.rowcount)


def _template(r: Any) -> TemplateRow:
    return TemplateRow(
        int(r.program_id),
        r.topic,
        r.language,
        r.subject,
        r.html,
        r.text,
        r.updated_at,
        r.updated_by,
    )


_T = message_templates.c


class TemplateRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, program_id: int, topic: str, language: str) -> TemplateRow | None:
        row = self.conn.execute(
            select(message_templates).where(
                _T.program_id == program_id, _T.topic == topic, _T.language == language
            )
        ).first()
        return None if row is None else _template(row)

    def for_program(self, program_id: int) -> list[TemplateRow]:
        q = select(message_templates).where(_T.program_id == program_id)
        return [_template(r) for r in self.conn.execute(q.order_by(_T.topic, _T.language))]

    def put(self, row: TemplateRow) -> None:
        """Store a program's template (replacing its previous version)."""
        self.remove(row.program_id, row.topic, row.language)
        self.conn.execute(
            insert(message_templates).values(
                program_id=row.program_id,
                topic=row.topic,
                language=row.language,
                subject=row.subject,
                html=row.html,
                text=row.text,
                updated_at=row.updated_at,
                updated_by=row.updated_by,
            )
        )

    def remove(self, program_id: int, topic: str, language: str) -> bool:
        done = self.conn.execute(
            delete(message_templates).where(
                _T.program_id == program_id, _T.topic == topic, _T.language == language
            )
        )
        return bool(done.rowcount)


_S = notification_settings.c


class NotificationSettingsRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, program_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            select(_S.settings).where(_S.program_id == program_id)
        ).scalar_one_or_none()
        return None if row is None else dict(row)

    def put(self, program_id: int, settings: dict[str, Any], at: datetime, by: str) -> None:
        self.conn.execute(delete(notification_settings).where(_S.program_id == program_id))
        self.conn.execute(
            insert(notification_settings).values(
                program_id=program_id, settings=settings, updated_at=at, updated_by=by[:128]
            )
        )
