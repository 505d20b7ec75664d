"""Member notifications: the messages log (every message a member was sent, queued or
suppressed, with its reason), a program's own templates per topic and language, and its
notification policy (frequency caps, quiet hours, language).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kopilka.store.types import Id, Json, UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("member_id", Id),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("address", sa.String(254)),
        sa.Column("address_masked", sa.String(254)),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(500)),
        sa.Column("variables", Json, nullable=False),
        sa.Column("sensitive", Json, nullable=False),
        sa.Column("urgent", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.String(500)),
        sa.Column("send_after", UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_holder", sa.String(128)),
        sa.Column("lease_expires_at", UTCDateTime(timezone=True)),
        sa.Column("provider_ref", sa.String(200)),
        sa.Column("dedupe_key", sa.String(200)),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("program_id", "dedupe_key", name="uq_messages_program_dedupe"),
    )
    op.create_index("ix_messages_member", "messages", ["member_id", "id"])
    op.create_index("ix_messages_due", "messages", ["status", "send_after"])
    op.create_index(
        "ix_messages_cap", "messages", ["member_id", "channel", "purpose", "created_at"]
    )
    op.create_table(
        "message_templates",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name="fk_message_templates_program_id_programs"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_message_templates"),
        sa.UniqueConstraint(
            "program_id", "topic", "language", name="uq_message_templates_topic"
        ),
    )
    op.create_table(
        "notification_settings",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("settings", Json, nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name="fk_notification_settings_program_id_programs"
        ),
        sa.PrimaryKeyConstraint("program_id", name="pk_notification_settings"),
    )


def downgrade() -> None:
    op.drop_table("notification_settings")
    op.drop_table("message_templates")
    op.drop_index("ix_messages_cap", table_name="messages")
    op.drop_index("ix_messages_due", table_name="messages")
    op.drop_index("ix_messages_member", table_name="messages")
    op.drop_table("messages")
