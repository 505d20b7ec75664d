"""The schema, as SQLAlchemy Core tables. Alembic migrations are generated from it.

Ledger tables (``journal_entries``, ``postings``, ``lot_draws``) are append-only: rows are
inserted and never updated or deleted. ``lots``, ``holds`` and ``member_balances`` are
projections kept in the same transaction as the journal rows that justify them, and
``kopilka verify`` recomputes them from the journal.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)

from kopilka.store.types import Id, Json, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

programs = Table(
    "programs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("point_value_minor", Integer, nullable=False),
    Column("rounding", String(16), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("expiry_kind", String(16), nullable=False),
    Column("expiry_n", Integer, nullable=False),
    Column("activation_delay_s", Integer, nullable=False),
    Column("negative_balance", String(16), nullable=False),
    Column("restore_policy", String(16), nullable=False),
    Column("hold_ttl_s", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # whether a marketer's publication of rules is a proposal an admin approves (0012)
    Column("rules_approval", Boolean, nullable=False, server_default=text("false")),
    Column("expiry_from", String(16), nullable=False, server_default="earning"),
)

members = Table(
    "members",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, ForeignKey("programs.id"), nullable=False),
    Column("status", String(16), nullable=False),  # active | blocked
    Column("first_name", String(100)),
    Column("last_name", String(100)),
    Column("birthday", Date),
    Column("gender", String(16)),
    Column("attributes", Json, nullable=False),
    Column("tier_code", String(64)),
    Column("referral_code", String(32), unique=True),
    Column("referred_by", Id, ForeignKey("members.id")),
    Column("lifetime_spend_minor", Id, nullable=False, default=0),
    Column("purchase_count", Integer, nullable=False, default=0),
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("blocked_reason", String(500)),
    Column("erased_at", UTCDateTime),
    # when the birthday was last changed after enrollment (it drives birthday bonuses, so
    # changes are rationed: KOPILKA_BIRTHDAY_CHANGE_DAYS)
    Column("birthday_changed_at", UTCDateTime),
    # when tier_code lapses by time alone (a paid or manual floor lifting it ends): the
    # purchase path recomputes the tier after it without waiting for the review (0024)
    Column("tier_until", UTCDateTime),
    Index("ix_members_program", "program_id", "id"),
    # the console's members list (0011): its orders and filters, by keyset
    Index("ix_members_program_enrolled", "program_id", "enrolled_at", "id"),
    Index("ix_members_program_name", "program_id", "last_name", "id"),
)

member_identifiers = Table(
    "member_identifiers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, ForeignKey("programs.id"), nullable=False),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # card | phone | email | external
    Column("value", String(254), nullable=False),
    UniqueConstraint("program_id", "kind", "value"),
    Index("ix_member_identifiers_member", "member_id"),
)

consents = Table(
    "consents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("member_id", Id, ForeignKey("members.id"), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("channel", String(32), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_consents_member", "member_id"),
)

member_balances = Table(
    "member_balances",
    metadata,
    Column("member_id", Id, ForeignKey("members.id"), primary_key=True),
    Column("program_id", Id, nullable=False),
    Column("available", Id, nullable=False),
    Column("pending", Id, nullable=False),
    Column("held", Id, nullable=False),
    CheckConstraint("pending >= 0", name="pending_nonneg"),
    CheckConstraint("held >= 0", name="held_nonneg"),
    Index("ix_member_balances_program_available", "program_id", "available", "member_id"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("member_id", Id),
    # earn activate redeem hold capture void hold_expire reverse expire adjust
    Column("kind", String(16), nullable=False),
    Column("points", Id, nullable=False),  # magnitude of the movement the entry is about
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("reverses_entry_id", Id, ForeignKey("journal_entries.id")),
    Column("hold_id", Id),
    Column("rule_id", String(64)),
    Column("rule_version", Integer),
    Column("reference", String(128)),  # receipt id, event id...
    Column("reason", String(500)),
    Column("actor", String(128)),
    Column("meta", Json),
    Index("ix_journal_member", "member_id", "id"),
    # only reversals have it; a lookup by value implies IS NOT NULL (migration 0007)
    Index(
        "ix_journal_reverses",
        "reverses_entry_id",
        postgresql_where=text("reverses_entry_id IS NOT NULL"),
        sqlite_where=text("reverses_entry_id IS NOT NULL"),
    ),
)

postings = Table(
    "postings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # no foreign keys on the two append-only, highest-volume tables: a key check per row
    # tripled the cost of the bulk paths on PostgreSQL; `kopilka verify` proves every
    # reference instead (check "references_exist")
    Column("entry_id", Id, nullable=False),
    Column("program_id", Id, nullable=False),
    # member accounts: available pending held;
    # program accounts: issued redeemed breakage adjustments
    Column("account", String(16), nullable=False),
    Column("member_id", Id),
    Column("amount", Id, nullable=False),
    Index("ix_postings_entry", "entry_id"),
    Index("ix_postings_member", "member_id"),
)

lots = Table(
    "lots",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("member_id", Id, nullable=False),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=False),
    Column("source", String(16), nullable=False),  # earn | adjust | reissue
    Column("amount", Id, nullable=False),
    Column("remaining", Id, nullable=False),
    Column("earned_at", UTCDateTime, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("activated_at", UTCDateTime),  # null while the points are pending
    Column("expired_at", UTCDateTime),  # set by the expiry sweep
    Column("origin_lot_id", Id),  # for reissued lots: the expired lot they replace
    CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_range"),
    # partial indexes: only lots a sweep or a member's operation can still touch, so
    # finished lots cost nothing (every member lookup of lots asks for unexpired ones)
    Index("ix_lots_entry", "entry_id"),  # the lot an entry created (reversals)
    Index(
        "ix_lots_member_open",
        "member_id",
        "remaining",
        postgresql_where=text("expired_at IS NULL"),
        sqlite_where=text("expired_at IS NULL"),
    ),
    Index(
        "ix_lots_open_expiry",
        "program_id",
        "expires_at",
        postgresql_where=text("expired_at IS NULL AND remaining > 0"),
        sqlite_where=text("expired_at IS NULL AND remaining > 0"),
    ),
    Index(
        "ix_lots_pending",
        "program_id",
        "available_at",
        postgresql_where=text("activated_at IS NULL"),
        sqlite_where=text("activated_at IS NULL"),
    ),
)

# ``remaining > 0`` written into the SQL, never bound as a parameter: it is the condition
# of the partial index ix_lots_open_expiry, and a planner can only use a partial index when
# the query visibly implies its condition. With a parameter there, SQLite re-prepares the
# whole statement at every execution (its plan depended on the value bound), which made
# the purchase's member read cost ~6 times a plain one; PostgreSQL's generic plan for a
# prepared statement could not use the index at all.
LOT_HAS_POINTS = lots.c.remaining > literal_column("0")

lot_draws = Table(
    "lot_draws",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lot_id", Id, nullable=False),  # no foreign keys: see postings
    Column("entry_id", Id, nullable=False),
    # spend release restore expire clawback repay adjust reissue
    Column("kind", String(16), nullable=False),
    Column("amount", Id, nullable=False),  # taken from the lot (> 0) or given back (< 0)
    Index("ix_lot_draws_lot", "lot_id"),
    Index("ix_lot_draws_entry", "entry_id"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("member_id", Id, nullable=False),
    Column("amount", Id, nullable=False),
    Column("status", String(16), nullable=False),  # active captured voided expired
    Column("captured", Id, nullable=False, default=0),
    Column("reference", String(128)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=False),
    Column("resolved_entry_id", Id, ForeignKey("journal_entries.id")),
    Column("meta", Json),
    # the store it was made at (None: none, as the web shop's): a store-bound API key
    # sees and ends only its own store's holds
    Column("store", String(64)),
    Index("ix_holds_due", "program_id", "status", "expires_at"),
    Index("ix_holds_member", "member_id", "status"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("operation", String(64), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("response", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=False),
    Column("before", Json),
    Column("after", Json),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_audit_program", "program_id", "id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, ForeignKey("programs.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("key_hash", String(128), nullable=False),
    Column("store_code", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

rule_sets = Table(
    "rule_sets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, ForeignKey("programs.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("format", String(8), nullable=False),
    Column("document", Text, nullable=False),
    Column("effective_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("published_by", String(128), nullable=False),
    UniqueConstraint("program_id", "version"),
)

# rules a marketer proposed, for an admin to approve or reject (0012)
rule_proposals = Table(
    "rule_proposals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, ForeignKey("programs.id"), nullable=False),
    Column("format", String(8), nullable=False),
    Column("document", Text, nullable=False),
    Column("effective_at", UTCDateTime),  # None: when it is approved
    Column("proposed_by", String(128), nullable=False),
    Column("proposed_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # proposed | approved | rejected
    Column("decided_by", String(128)),
    Column("decided_at", UTCDateTime),
    Column("comment", String(1000)),
    Column("version", Integer),  # the version an approval published
    Index("ix_rule_proposals_program", "program_id", "id"),
)

rule_usage = Table(
    "rule_usage",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("member_id", Id, primary_key=True),  # 0 for program-wide (campaign budget)
    Column("period", String(16), primary_key=True),  # 'all', '2026-03', '2026-03-14', '2026-W11'
    Column("points", Id, nullable=False),
    Column("count", Integer, nullable=False),
)

purchases = Table(
    "purchases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("member_id", Id, nullable=False),
    Column("receipt_id", String(128), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("store", String(64)),
    Column("channel", String(16)),
    Column("total_minor", Id, nullable=False),
    Column("discount_minor", Id, nullable=False),
    Column("points_earned", Id, nullable=False),
    Column("points_redeemed", Id, nullable=False),
    Column("earn_entry_id", Id),
    Column("redeem_entry_id", Id),
    Column("rule_version", Integer),
    Column("meta", Json),
    # receipt-level facts the rules may test (0008); last, as the migration appends them
    Column("partner", String(64)),
    Column("payment_method", String(64)),
    UniqueConstraint("program_id", "receipt_id"),
    Index("ix_purchases_member", "member_id", "id"),
    Index("ix_purchases_member_time", "member_id", "occurred_at"),
    # the console's receipts list: by date and by amount (0014)
    Index("ix_purchases_program_time", "program_id", "occurred_at", "id"),
    Index("ix_purchases_program_total", "program_id", "total_minor", "id"),
)

purchase_lines = Table(
    "purchase_lines",
    metadata,
    # no foreign key here nor on line_awards: they are written only with their purchase,
    # in its transaction, and a key check per row was the largest server cost of the bulk
    # import on PostgreSQL; `kopilka verify` proves the reference (check
    # "purchase_references_exist")
    Column("purchase_id", Id, primary_key=True),
    Column("line_id", String(64), primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("category", String(64)),
    Column("brand", String(64)),
    Column("quantity", String(32), nullable=False),
    Column("amount_minor", Id, nullable=False),
    Column("discount_minor", Id, nullable=False),  # money paid with points on this line
    Column("points_redeemed", Id, nullable=False),
    Column("points_earned", Id, nullable=False),
)

line_awards = Table(
    "line_awards",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("purchase_id", Id, nullable=False),  # no foreign key: see purchase_lines
    Column("line_id", String(64), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("points", Id, nullable=False),
    Index("ix_line_awards_purchase", "purchase_id"),
)

returns = Table(
    "returns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("purchase_id", Id, ForeignKey("purchases.id"), nullable=False),
    Column("return_id", String(128), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("points_clawed_back", Id, nullable=False),
    Column("points_restored", Id, nullable=False),
    Column("refund_minor", Id, nullable=False),
    Column("lines", Json, nullable=False),
    UniqueConstraint("purchase_id", "return_id"),
)


# the worker (services/worker): one row per program and job kind, the job's cron schedule,
# when it is due next, and the lease of the worker running it (if any)
job_schedules = Table(
    "job_schedules",
    metadata,
    Column("program_id", Id, ForeignKey("programs.id"), primary_key=True),
    Column("job", String(32), primary_key=True),
    Column("cron", String(120), nullable=False),
    Column("next_run_at", UTCDateTime, nullable=False),
    Column("lease_holder", String(128)),
    Column("lease_expires_at", UTCDateTime),
    Column("lease_run_id", Id),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_job_schedules_due", "next_run_at"),
)

# every run of a job: what it was scheduled for, when it ran, what it did and how it ended
# (its error text never carries personal data: the job kind and the error's code only)
job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("job", String(32), nullable=False),
    Column("scheduled_for", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("worker", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("counts", Json),
    Column("error", String(500)),
    Index("ix_job_runs_program", "program_id", "id"),
)

# "500 points to these members on 1 March": an accrual the worker books once per member
scheduled_accruals = Table(
    "scheduled_accruals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, ForeignKey("programs.id"), nullable=False),
    Column("points", Id, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("run_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # scheduled, done, cancelled
    Column("members", Integer, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("counts", Json),
    Index("ix_scheduled_accruals_due", "program_id", "status", "run_at"),
)

scheduled_accrual_members = Table(
    "scheduled_accrual_members",
    metadata,
    Column("accrual_id", Id, ForeignKey("scheduled_accruals.id"), primary_key=True),
    Column("member_id", Id, primary_key=True),
)

# on SQLite one worker serves a database: its row names it (process id, host), so a second
# one can say who runs and take over when that process is gone
worker_locks = Table(
    "worker_locks",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
)


# each verification of a program's ledger, stored: the console's verify page reads the
# latest instead of recomputing the ledger per request (checks: name, violations, samples)
verify_reports = Table(
    "verify_reports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, ForeignKey("programs.id"), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("checked_at", UTCDateTime, nullable=False),
    Column("last_entry_id", Id),  # the newest journal entry the check saw
    Column("ok", Boolean, nullable=False),
    Column("checks", Json, nullable=False),
    Column("totals", Json, nullable=False),
    Column("ran_by", String(128), nullable=False),  # job, cli, console:<actor>
    Column("duration_ms", Integer, nullable=False),
    Index("ix_verify_reports_program", "program_id", "id"),
)

# the overview's figures as the ``totals`` job last computed them, one row per program
program_totals = Table(
    "program_totals",
    metadata,
    Column("program_id", Id, ForeignKey("programs.id"), primary_key=True),
    Column("as_of", UTCDateTime, nullable=False),
    Column("last_entry_id", Id),
    Column("totals", Json, nullable=False),
    Column("duration_ms", Integer, nullable=False),
)


# the transactional outbox: an event per change a downstream system cares about, written in
# the change's own transaction; ``seq`` orders one member's events (1, 2, ...), and
# ``dispatched_at`` is set once the delivery job has handed the event to its channels;
# ``member_id`` is null for an event of the program itself (an import finished, ...)
outbox_events = Table(
    "outbox_events",
    metadata,
    Column("id", String(36), primary_key=True),  # a UUID: what consumers deduplicate on
    Column("program_id", Id, nullable=False),
    Column("member_id", Id),
    Column("seq", Integer, nullable=False),
    Column("type", String(40), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("payload", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("dispatched_at", UTCDateTime),
    UniqueConstraint("member_id", "seq", name="uq_outbox_events_member_seq"),
    Index(
        "ix_outbox_events_undispatched",
        "program_id",
        "created_at",
        postgresql_where=text("dispatched_at IS NULL"),
        sqlite_where=text("dispatched_at IS NULL"),
    ),
    Index("ix_outbox_events_program_created", "program_id", "created_at"),
)


# a program's webhook subscriptions: where its events go (``event_types`` empty: every type),
# signed with ``secret`` (Standard Webhooks' "whsec_..." form)
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, ForeignKey("programs.id"), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("event_types", Json, nullable=False),
    Column("secret", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime),
)

# one row per event and channel ("webhook:<id>", "nats"): its state (pending, delivered,
# dead), retries, and the lease of the worker delivering it
outbox_deliveries = Table(
    "outbox_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("program_id", Id, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("member_id", Id),
    Column("seq", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_holder", String(128)),
    Column("lease_expires_at", UTCDateTime),
    Column("delivered_at", UTCDateTime),
    Column("last_error", String(500)),
    UniqueConstraint("event_id", "channel", name="uq_outbox_deliveries_event_channel"),
    # the claim's: a program's pending deliveries in each member's order (migration 0034)
    Index(
        "ix_outbox_deliveries_pending",
        "program_id",
        "channel",
        "member_id",
        "seq",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
)

# the delivery log: every attempt of every delivery
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", Id, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("status_code", Integer),
    Column("error", String(500)),
    Column("duration_ms", Integer, nullable=False),
    Index("ix_delivery_attempts_channel", "channel", "id"),
)


def column_names(table: Table, *, without: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The table's column names in table order (bulk rows and prebuilt inserts follow it)."""
    return tuple(c.name for c in table.c if c.name not in without)


# ---- tiers (issue 22) ----------------------------------------------------------------
# a member's tier standing: the earned tier, a manual floor set by support (until a date
# or for good), and when a review first found the retention bar missed (the grace period's
# start); the effective tier, what rules read, stays in members.tier_code
member_tiers = Table(
    "member_tiers",
    metadata,
    Column("member_id", Id, primary_key=True),
    Column("program_id", Id, nullable=False),
    Column("earned_tier", String(64)),
    Column("manual_tier", String(64)),
    Column("manual_until", UTCDateTime),
    Column("manual_reason", String(600)),
    Column("grace_since", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    # the tier of the member's paid membership and the end of its term (0024)
    Column("paid_tier", String(64)),
    Column("paid_until", UTCDateTime),
    # the next anniversary review: a year after the earned tier was reached (0030)
    Column("review_due", UTCDateTime),
    Index("ix_member_tiers_program", "program_id", "member_id"),
)
# every change of a member's effective or earned tier, with what decided it (append-only)
tier_changes = Table(
    "tier_changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("member_id", Id, nullable=False),
    Column("from_tier", String(64)),
    Column("to_tier", String(64)),
    Column("at", UTCDateTime, nullable=False),
    Column("reason", String(16), nullable=False),  # purchase | review | manual | return | migration
    Column("metrics", Json),
    Column("thresholds", Json),
    Column("rule_version", Integer),
    Column("actor", String(128)),
    Column("note", String(600)),
    Index("ix_tier_changes_member", "member_id", "id"),
)


# ---- member notifications (issue 23) --------------------------------------------------
# every message a member was (or was not) sent: queued until its time (quiet hours) and a
# sender's lease, then sent or failed; or suppressed at once with a reason. ``variables``
# are what the topic's template is rendered with at sending; those named in ``sensitive``
# (a one-time code) are erased from the row once it is sent or has failed for good
messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("member_id", Id),  # None: an address with no member yet (self-enrolment)
    Column("channel", String(8), nullable=False),  # email | sms | push
    Column("address", String(254)),  # what it is sent to (None: none found)
    Column("address_masked", String(254)),  # what the console and the logs show
    Column("topic", String(64), nullable=False),
    Column("purpose", String(16), nullable=False),  # transactional | marketing
    Column("locale", String(8), nullable=False),
    Column("subject", String(500)),  # as rendered when sent
    Column("variables", Json, nullable=False),
    Column("sensitive", Json, nullable=False),
    Column("urgent", Boolean, nullable=False),  # sent in quiet hours too
    Column("status", String(16), nullable=False),  # queued | sent | failed | suppressed
    Column("reason", String(32)),  # why suppressed
    Column("attempts", Integer, nullable=False),
    Column("error", String(500)),
    Column("send_after", UTCDateTime, nullable=False),
    Column("lease_holder", String(128)),
    Column("lease_expires_at", UTCDateTime),
    Column("provider_ref", String(200)),  # the provider's id of the sent message
    Column("dedupe_key", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("program_id", "dedupe_key", name="uq_messages_program_dedupe"),
    Index("ix_messages_member", "member_id", "id"),
    Index("ix_messages_due", "status", "send_after"),
    Index("ix_messages_cap", "member_id", "channel", "purpose", "created_at"),
)

# a program's own version of a topic's template in one language (the package ships the
# defaults): subject, HTML and plain text, each a sandboxed Jinja2 template
message_templates = Table(
    "message_templates",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, ForeignKey("programs.id"), nullable=False),
    Column("topic", String(64), nullable=False),
    Column("language", String(8), nullable=False),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(128), nullable=False),
    UniqueConstraint("program_id", "topic", "language", name="uq_message_templates_topic"),
)

# a program's notification policy (domain/notifications.py NotificationPolicy.to_json)
notification_settings = Table(
    "notification_settings",
    metadata,
    Column("program_id", Id, ForeignKey("programs.id"), primary_key=True),
    Column("settings", Json, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(128), nullable=False),
)


# one-time codes (services/one_time_codes.py): the code itself is never stored, only its
# HMAC under the server's key; the address (phone or e-mail) only as an HMAC too, enough
# to end a code when a newer one is sent to the same address
one_time_codes = Table(
    "one_time_codes",
    metadata,
    Column("id", String(32), primary_key=True),  # the challenge's name in the session
    Column("program_id", Id, nullable=False),
    Column("member_id", Id),  # None: nobody has the address, nothing was sent
    Column("address_digest", String(64), nullable=False),
    Column("channel", String(8), nullable=False),  # sms | email
    Column("code_digest", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("ended_at", UTCDateTime),  # used, replaced by a newer code, or out of tries
    # sign_in | join (0032): a code to join is sent whether or not a member has the address
    Column("purpose", String(8), nullable=False, server_default="sign_in"),
    Index("ix_one_time_codes_address", "program_id", "address_digest", "created_at"),
)

# a program's portal settings (domain/portal.py PortalSettings.to_json): whether visitors
# may join online (0032); no row: they may not
portal_settings = Table(
    "portal_settings",
    metadata,
    Column("program_id", Id, ForeignKey("programs.id"), primary_key=True),
    Column("settings", Json, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(128), nullable=False),
)

# a program's reminders (domain/reminders.py ReminderSettings.to_json): which are on and
# their parameters; no row: all off
reminder_settings = Table(
    "reminder_settings",
    metadata,
    Column("program_id", Id, ForeignKey("programs.id"), primary_key=True),
    Column("settings", Json, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(128), nullable=False),
)

# ---- personal offers and favourite categories (issue 24) -----------------------------
# the members the back office listed for an offer (a rule with ``offer: {audience:
# {listed: true}}``), by the offer's rule id
offer_audiences = Table(
    "offer_audiences",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("offer_id", String(64), primary_key=True),
    Column("member_id", Id, primary_key=True),
    Column("added_at", UTCDateTime, nullable=False),
    Index("ix_offer_audiences_member", "member_id"),
)
# a member's activation of an offer that requires one (once; kept when the offer ends)
offer_activations = Table(
    "offer_activations",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("offer_id", String(64), primary_key=True),
    Column("member_id", Id, primary_key=True),
    Column("activated_at", UTCDateTime, nullable=False),
    Column("channel", String(16)),
    Index("ix_offer_activations_member", "member_id"),
)
# a member's choice of favourite categories for a rule, one per period (the period's first
# local day); the latest choice on or before a purchase's period is in force
favourite_choices = Table(
    "favourite_choices",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("member_id", Id, primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("categories", Json, nullable=False),
    Column("chosen_at", UTCDateTime, nullable=False),
    Index("ix_favourite_choices_member", "member_id"),
)


# ---- rewards (issue 24) --------------------------------------------------------------
# a program's settings for rewards: whether an unused reward's points come back when it
# is cancelled, and when it expires
reward_settings = Table(
    "reward_settings",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("refund_on_cancel", Boolean, nullable=False, server_default=text("true")),
    Column("refund_on_expiry", Boolean, nullable=False, server_default=text("false")),
    Column("updated_at", UTCDateTime, nullable=False),
    # issue 24 (0023): a return of a coupon's lines gives the coupon back
    Column("coupon_back_on_return", Boolean, nullable=False, server_default=text("false")),
)
# the catalog: one row per reward; ``stock`` is what is left to issue (NULL: unlimited),
# ``issued_count`` every issue ever (the total limit counts it); both change in one
# conditional UPDATE, so two redemptions never take the last unit twice
rewards = Table(
    "rewards",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("code", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # gift | coupon | voucher | partner
    Column("name", Json, nullable=False),  # {"en": ..., "ru": ...}
    Column("description", Json, nullable=False),
    Column("points", Integer, nullable=False),
    Column("tier_points", Json),  # {tier code: points}
    Column("coupon", Json),  # coupon and voucher terms (domain.rewards.CouponTerms)
    Column("fulfilment", String(16)),  # gift: pickup | delivery
    Column("stock", Integer),
    Column("issued_count", Integer, nullable=False, server_default=text("0")),
    Column("limit_per_member", Integer),
    Column("limit_per_period", Integer),
    Column("limit_period", String(8)),  # day | week | month
    Column("limit_total", Integer),
    Column("starts_at", UTCDateTime),
    Column("ends_at", UTCDateTime),
    Column("early_tier", String(64)),
    Column("early_opens_at", UTCDateTime),
    Column("audience_tiers", Json),  # [tier code]; empty or NULL with no members: everyone
    Column("audience_members", Json),  # [member id]
    Column("audience_segments", Json),  # [segment]: members whose attributes.segments meet it
    Column("activation_delay_s", Integer, nullable=False, server_default=text("0")),
    Column("valid_days", Integer),
    Column("valid_until", UTCDateTime),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("image", String(128)),  # the stored image's file name
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # a personal offer: the member activates it first (offer_activations, "reward:<id>")
    Column("requires_activation", Boolean, nullable=False, server_default=text("false")),
    UniqueConstraint("program_id", "code", name="uq_rewards_program_code"),
    CheckConstraint("stock IS NULL OR stock >= 0", name="stock_nonneg"),
)
# a reward's image, uploaded in the back office and served by Kopilka (checked PNG, JPEG
# or WebP, at most 512 KB: in the database, so every process serves it, on both backends)
reward_images = Table(
    "reward_images",
    metadata,
    Column("reward_id", Id, primary_key=True),
    Column("content_type", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
# a partner's codes, loaded from CSV; ``issued_id`` is set when one is handed out
reward_pool_codes = Table(
    "reward_pool_codes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("reward_id", Id, nullable=False),
    Column("code", String(64), nullable=False),
    Column("issued_id", Id),
    Column("loaded_at", UTCDateTime, nullable=False),
    UniqueConstraint("reward_id", "code", name="uq_reward_pool_codes_reward_code"),
    Index("ix_reward_pool_codes_free", "reward_id", "issued_id", "id"),
)
# rewards issued to members: the code, the ``reward`` entry that paid for it, the
# validity, the status and (coupons, vouchers) the terms as they were when issued
issued_rewards = Table(
    "issued_rewards",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("reward_id", Id, nullable=False),
    Column("member_id", Id, nullable=False),
    Column("code", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("points", Integer, nullable=False),
    Column("entry_id", Id, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("valid_from", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("status", String(16), nullable=False),  # issued | used | expired | cancelled
    Column("coupon", Json),
    Column("refund_entry_id", Id),
    Column("ended_at", UTCDateTime),
    UniqueConstraint("program_id", "code", name="uq_issued_rewards_program_code"),
    Index("ix_issued_rewards_member", "member_id", "reward_id", "issued_at"),
    Index("ix_issued_rewards_due", "program_id", "status", "expires_at"),
)
# an issued reward's history: issued, used, expired, cancelled (append-only)
issued_reward_events = Table(
    "issued_reward_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("issued_id", Id, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("actor", String(128)),
    Column("reason", String(600)),
    Column("detail", Json),
    Index("ix_issued_reward_events_issued", "issued_id", "id"),
)
# the welcome bonus of a tier (the tier_reached event), given once per member and tier (0024)
tier_welcomes = Table(
    "tier_welcomes",
    metadata,
    Column("member_id", Id, primary_key=True),
    Column("tier_code", String(64), primary_key=True),
    Column("program_id", Id, nullable=False),
    Column("change_id", Id, nullable=False),  # the tier change that earned it
    Column("points", Id, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
# the birthday bonus (the birthday event), credited once per member and year (0028)
birthday_bonuses = Table(
    "birthday_bonuses",
    metadata,
    Column("member_id", Id, primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("program_id", Id, nullable=False),
    Column("day", Date, nullable=False),  # the local day it was credited for
    Column("points", Id, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
# paid membership (0024): what a member bought (a plan giving a tier for a term), and each
# sale with its money, start, renewal or refund (never points); a receipt id sells once
paid_memberships = Table(
    "paid_memberships",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("member_id", Id, nullable=False),
    Column("plan_code", String(64), nullable=False),
    Column("tier_code", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # active | cancelled | refunded
    Column("started_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_paid_memberships_member", "member_id", "id"),
)
membership_sales = Table(
    "membership_sales",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("member_id", Id, nullable=False),
    Column("membership_id", Id, nullable=False),
    Column("receipt_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # start | renew | refund
    Column("amount_minor", Id, nullable=False),  # a refund's is negative
    Column("currency", String(3), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("term_start", UTCDateTime),
    Column("term_end", UTCDateTime),
    UniqueConstraint("program_id", "receipt_id", name="uq_membership_sales_receipt"),
    Index("ix_membership_sales_membership", "membership_id", "id"),
)
# ---- analytics (issue 25) ------------------------------------------------------------
# the daily rollup: per program, local day (the program's time zone), store, channel and
# tier ('' for none); kept by the ``analytics`` job, rebuilt by ``kopilka analytics rebuild``
analytics_daily = Table(
    "analytics_daily",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("store", String(64), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("tier", String(64), primary_key=True),
    Column("points_issued", Id, nullable=False, server_default="0"),
    Column("points_redeemed", Id, nullable=False, server_default="0"),
    Column("points_expired", Id, nullable=False, server_default="0"),
    Column("points_adjusted", Id, nullable=False, server_default="0"),
    Column("purchases", Id, nullable=False, server_default="0"),
    Column("revenue_minor", Id, nullable=False, server_default="0"),
    Column("refunds_minor", Id, nullable=False, server_default="0"),
    Column("guest_receipts", Id, nullable=False, server_default="0"),
    Column("guest_revenue_minor", Id, nullable=False, server_default="0"),
    Column("active_members", Id, nullable=False, server_default="0"),
    Column("new_members", Id, nullable=False, server_default="0"),
)

# each member's purchases and revenue by local month (month_no = year * 12 + month - 1),
# with the member's enrolment month (cohort): retention, churn, cohorts, lifetime value
analytics_member_months = Table(
    "analytics_member_months",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("month_no", Integer, primary_key=True),
    Column("member_id", Id, primary_key=True),
    Column("cohort", Integer, nullable=False),
    Column("purchases", Id, nullable=False, server_default="0"),
    Column("revenue_minor", Id, nullable=False, server_default="0"),
)

# purchases by their local day and the local day of the member's purchase one (back 1) or
# two (back 2) purchases earlier: a range's distinct and repeat purchasers without reading
# the purchases (docs/analytics.md); at most one row per pair of days
analytics_purchase_gaps = Table(
    "analytics_purchase_gaps",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("back", SmallInteger, primary_key=True),
    Column("earlier", Date, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("purchases", Id, nullable=False, server_default="0"),
)

# per local month and enrolment month (cohort): members active (a purchase), of them
# active the month before too, their purchases and revenue (summed from the member months)
analytics_cohort_months = Table(
    "analytics_cohort_months",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("month_no", Integer, primary_key=True),
    Column("cohort", Integer, primary_key=True),
    Column("active", Id, nullable=False, server_default="0"),
    Column("retained", Id, nullable=False, server_default="0"),
    Column("purchases", Id, nullable=False, server_default="0"),
    Column("revenue_minor", Id, nullable=False, server_default="0"),
)

# per local day of expiry: points of the lots due to expire that day, and how many of them
# expired (their ``expire`` draws): the breakage rates without reading the lots
analytics_expiry_daily = Table(
    "analytics_expiry_daily",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("due", Id, nullable=False, server_default="0"),
    Column("expired", Id, nullable=False, server_default="0"),
)

# points awarded per rule per local day (from the purchases' line awards)
analytics_rule_daily = Table(
    "analytics_rule_daily",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("points", Id, nullable=False, server_default="0"),
    Column("awards", Id, nullable=False, server_default="0"),
)

# how far the ``analytics`` job has read each source (the newest id it saw)
analytics_state = Table(
    "analytics_state",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("last_entry_id", Id, nullable=False, server_default="0"),
    Column("last_purchase_id", Id, nullable=False, server_default="0"),
    Column("last_return_id", Id, nullable=False, server_default="0"),
    Column("last_member_id", Id, nullable=False, server_default="0"),
    Column("last_guest_id", Id, nullable=False, server_default="0"),
    Column("last_lot_id", Id, nullable=False, server_default="0"),
    Column("last_draw_id", Id, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime, nullable=False),
)

# a program's analytics settings: the monthly budget cap (basis points of turnover, None:
# no cap) and the days without a purchase after which a member no longer counts as active
analytics_settings = Table(
    "analytics_settings",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("budget_cap_bp", Integer),
    Column("active_days", Integer, nullable=False, server_default="90"),
    Column("updated_at", UTCDateTime, nullable=False),
)

# alerts written once per program, kind and month (``budget.cap_exceeded``)
analytics_alerts = Table(
    "analytics_alerts",
    metadata,
    Column("program_id", Id, primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
)

# a till's receipt without a member, for analytics only: no points, no member
guest_receipts = Table(
    "guest_receipts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("program_id", Id, nullable=False),
    Column("receipt_id", String(128), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("store", String(64)),
    Column("channel", String(16)),
    Column("total_minor", Id, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "receipt_id", name="uq_guest_receipts_program_id"),
    Index("ix_guest_receipts_program_time", "program_id", "occurred_at"),
)

# a return's or a capture's journal entry finds its purchase (store, channel); the expiry
# calendar's lots by program and expiry (breakage rate)
Index("ix_purchases_earn_entry", purchases.c.earn_entry_id)
Index("ix_purchases_redeem_entry", purchases.c.redeem_entry_id)
Index("ix_lots_program_expires", lots.c.program_id, lots.c.expires_at)
