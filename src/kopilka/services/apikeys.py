"""API keys and what each role may do.

A key is ``kp_<prefix>_<secret>``: the prefix (public, unique) finds the row, the secret
(32 random bytes) is checked against its stored SHA-256 with a constant-time compare.
Only the hash is stored; the full key is shown once, when it is created. Each key is
bound to one program, has one role, and a ``pos`` key is bound to one store.

Store and channel are conditions of rules, so a selling key never declares them: a
``pos`` key books at its own store in the ``till`` channel, an ``ecommerce`` key in the
``web`` channel at the store it was created with (usually none). Such a key, and any key
created with a store, is bound (:attr:`ApiKey.scope`): it reads, returns, captures and
voids only its own store's receipts and holds. An unbound support, analyst or admin key
acts for the whole program; an admin key books at the store and channel it names.

:data:`PERMISSIONS` is the one permission matrix: every API route names the permission
it needs, and the tests walk every route against every role.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import time
import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from kopilka.domain.errors import KopilkaError, NotFoundError, PermissionDenied, ValidationError
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.scope import StoreScope
from kopilka.store.repos.apikeys import ApiKeyRepo, ApiKeyRow

KEY_PATTERN = re.compile(r"^kp_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
_STORE = re.compile(r"^[\w.-]{1,64}$")


class Unauthenticated(KopilkaError):
    """No key, an unknown or malformed key, or a revoked one."""

    code = "unauthorized"


class Role(enum.StrEnum):
    POS = "pos"  # one till or store
    ECOMMERCE = "ecommerce"  # the web shop's back end
    SUPPORT = "support"  # support agents' tools
    MARKETER = "marketer"
    ANALYST = "analyst"
    ADMIN = "admin"


class Permission(enum.StrEnum):
    MEMBERS_READ = "members:read"  # look up, get, balances
    MEMBERS_ENROLL = "members:enroll"
    MEMBERS_UPDATE = "members:update"  # profile
    MEMBERS_BLOCK = "members:block"
    HISTORY_READ = "history:read"
    HOLDS_WRITE = "holds:write"  # create, capture
    HOLDS_VOID = "holds:void"  # cancel a hold (a till's own, or support's for a member)
    POINTS_EARN = "points:earn"
    POINTS_REDEEM = "points:redeem"
    POINTS_ADJUST = "points:adjust"
    PROGRAM_READ = "program:read"
    JOBS_RUN = "jobs:run"  # expiry, activation and hold sweeps
    JOBS_READ = "jobs:read"  # the worker's schedules and job runs
    LEDGER_VERIFY = "ledger:verify"
    AUDIT_READ = "audit:read"
    PURCHASES_QUOTE = "purchases:quote"  # writes nothing
    PURCHASES_COMMIT = "purchases:commit"  # earn and redeem on a receipt
    PURCHASES_RETURN = "purchases:return"  # full or by line
    PURCHASES_READ = "purchases:read"  # a purchase with its points by line and rule
    EVENTS_WRITE = "events:write"  # reviews, shares, custom actions
    RULES_READ = "rules:read"  # rule-set versions and their documents
    RULES_PUBLISH = "rules:publish"  # publish a version, preview a draft
    RULES_BACKDATE = "rules:backdate"  # publish a version effective in the past (history)
    RULES_APPROVE = "rules:approve"  # approve or reject the rules a marketer proposed
    NOTIFICATIONS_EDIT = "notifications:edit"  # message templates, caps and quiet hours
    REWARDS_READ = "rewards:read"  # the catalog, a member's catalog and issued rewards
    REWARDS_REDEEM = "rewards:redeem"  # redeem a reward for a member (spends points)
    REWARDS_MANAGE = "rewards:manage"  # the catalog, stock, pools, images, refund settings
    REWARDS_CANCEL = "rewards:cancel"  # cancel an issued reward (may refund points)
    ANALYTICS_READ = "analytics:read"  # the KPIs and the dashboard (no personal data)
    ANALYTICS_EXPORT = "analytics:export"  # exports for BI (personal data by role)
    ANALYTICS_SETTINGS = "analytics:settings"  # the budget cap, the active days
    WEBHOOKS_MANAGE = "webhooks:manage"  # subscriptions (their secrets), logs, redelivery


# the one channel a selling key books in (its store is the key's own)
BOOKING_CHANNEL: dict[Role, str] = {Role.POS: "till", Role.ECOMMERCE: "web"}
# who may set what Kopilka computes or what drives bonuses: a tier, segments, a birthday
PROFILE_ROLES = frozenset({Role.SUPPORT, Role.ADMIN})

P = Permission
_READ_ONLY = frozenset({P.MEMBERS_READ, P.HISTORY_READ, P.PROGRAM_READ})
# what a till or a web shop does with a basket
_SELLING = frozenset(
    {P.PURCHASES_QUOTE, P.PURCHASES_COMMIT, P.PURCHASES_RETURN, P.PURCHASES_READ, P.EVENTS_WRITE}
)

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.POS: _SELLING
    | {
        P.MEMBERS_READ,
        P.MEMBERS_ENROLL,
        P.HISTORY_READ,
        P.HOLDS_WRITE,
        P.HOLDS_VOID,
        P.REWARDS_READ,
    },
    Role.ECOMMERCE: _SELLING
    | {
        P.MEMBERS_READ,
        P.MEMBERS_ENROLL,
        P.MEMBERS_UPDATE,
        P.HISTORY_READ,
        P.HOLDS_WRITE,
        P.HOLDS_VOID,
        P.POINTS_EARN,
        P.POINTS_REDEEM,
        P.REWARDS_READ,
        P.REWARDS_REDEEM,
    },
    Role.SUPPORT: _READ_ONLY
    | {
        P.MEMBERS_UPDATE,
        P.MEMBERS_BLOCK,
        P.POINTS_ADJUST,
        # a hold a till left behind is cancelled for the member; support neither
        # makes holds nor spends them (holds:write)
        P.HOLDS_VOID,
        P.AUDIT_READ,
        P.PURCHASES_READ,
        P.PURCHASES_RETURN,
        P.REWARDS_READ,
        P.REWARDS_CANCEL,
    },
    Role.MARKETER: frozenset(
        {
            P.MEMBERS_READ,
            P.PROGRAM_READ,
            P.RULES_READ,
            P.RULES_PUBLISH,
            P.REWARDS_READ,
            P.REWARDS_MANAGE,
        }
    ),
    Role.ANALYST: _READ_ONLY
    | {
        P.LEDGER_VERIFY,
        P.AUDIT_READ,
        P.PURCHASES_READ,
        P.RULES_READ,
        P.JOBS_READ,
        P.REWARDS_READ,
        P.ANALYTICS_READ,
        P.ANALYTICS_EXPORT,
    },
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An authenticated caller (never carries the secret)."""

    id: int
    name: str
    role: Role
    prefix: str
    store_code: str | None
    program: Program
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How audit records and ledger entries name this caller."""
        return f"apikey:{self.id}:{self.name}"[:128]

    @property
    def permissions(self) -> frozenset[Permission]:
        return PERMISSIONS[self.role]

    @property
    def channel(self) -> str | None:
        """The channel this key books in; None: the request names it (default till)."""
        return BOOKING_CHANNEL.get(self.role)

    @property
    def scope(self) -> StoreScope | None:
        """The one store whose receipts and holds this key may see and change (a selling
        key's, or any key created with a store); None: the whole program."""
        if self.role in BOOKING_CHANNEL or self.store_code is not None:
            return StoreScope(self.store_code)
        return None

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(
                f"role {self.role} may not {permission}",
                role=str(self.role),
                permission=str(permission),
            )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: ApiKeyRow, program: Program) -> ApiKey:
    return ApiKey(
        row.id,
        row.name,
        Role(row.role),
        row.prefix,
        row.store_code,
        program,
        row.created_at,
        row.revoked_at,
    )


def active_key(ctx: ServiceContext, key_id: int) -> ApiKey | None:
    """The key with this id, or None once it is revoked or gone (console sessions re-check
    their key on every request with this)."""
    with ctx.uow(read_only=True) as uow:
        row = ApiKeyRepo(uow.conn).get(key_id)
        if row is None or row.revoked_at is not None:
            return None
        return _key(row, uow.programs.get(row.program_id))


def create_key(
    ctx: ServiceContext, program_code: str, role: str, name: str, store_code: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the full secret key string, shown only this once."""
    try:
        role_ = Role(role)
    except ValueError:
        raise ValidationError(
            f"unknown role {role!r}; use one of {', '.join(Role)}", field="role"
        ) from None
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("key name must be 1-100 characters", field="name")
    if role_ == Role.POS and not store_code:
        raise ValidationError("a pos key must be bound to a store (--store)", field="store")
    if store_code is not None and not _STORE.match(store_code):
        raise ValidationError(
            "store code must be 1-64 letters, digits, '.', '-' or '_'", field="store"
        )
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with ctx.uow() as uow:
        program = uow.programs.by_code(program_code)
        repo = ApiKeyRepo(uow.conn)
        key_id = repo.add(program.id, name, role_, prefix, _hash(secret), store_code, ctx.now())
        row = repo.get(key_id)
        uow.commit()
    assert row is not None
    return _key(row, program), f"kp_{prefix}_{secret}"


# Every API request authenticates; a verified key is remembered for a few seconds so that
# a busy till does not cost a database round trip per request. A revocation takes effect
# at once in the process that revokes, and within AUTH_CACHE_SECONDS everywhere else.
AUTH_CACHE_SECONDS = 5.0
AUTH_CACHE_SIZE = 10_000
# per engine, and gone with it: an engine built where a disposed one lived is not
# answered from the old one's keys
_AUTH_CACHE: weakref.WeakKeyDictionary[Engine, dict[tuple[str, str], tuple[float, ApiKey]]] = (
    weakref.WeakKeyDictionary()
)


def _verified(engine: Engine) -> dict[tuple[str, str], tuple[float, ApiKey]]:
    found = _AUTH_CACHE.get(engine)
    return _AUTH_CACHE.setdefault(engine, {}) if found is None else found


def recently_verified(ctx: ServiceContext, presented: str | None) -> ApiKey | None:
    """The key, if this exact key string was verified in the last AUTH_CACHE_SECONDS
    (no I/O: safe on the event loop); None means: call :func:`authenticate`."""
    match = KEY_PATTERN.match(presented.strip()) if presented else None
    if match is None:
        return None
    prefix, secret = match.groups()
    cached = _verified(ctx.engine).get((prefix, _hash(secret)))
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    return None


def authenticate(ctx: ServiceContext, presented: str | None) -> ApiKey:
    """The key behind a presented key string, or :class:`Unauthenticated`."""
    match = KEY_PATTERN.match(presented.strip()) if presented else None
    if match is None:
        raise Unauthenticated("a valid API key is required")
    prefix, secret = match.groups()
    digest = _hash(secret)
    verified = _verified(ctx.engine)
    cached = verified.get((prefix, digest))
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    with ctx.uow(read_only=True) as uow:
        row = ApiKeyRepo(uow.conn).by_prefix(prefix)
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            raise Unauthenticated("a valid API key is required")
        if row.revoked_at is not None:
            raise Unauthenticated("this API key was revoked")
        key = _key(row, uow.programs.get(row.program_id))
    if len(verified) >= AUTH_CACHE_SIZE:
        verified.clear()
    verified[(prefix, digest)] = (time.monotonic() + AUTH_CACHE_SECONDS, key)
    return key


def list_keys(ctx: ServiceContext, program_code: str | None = None) -> list[ApiKey]:
    """Keys (all programs, or one), oldest first, revoked ones included."""
    with ctx.uow(read_only=True) as uow:
        programs = {p.id: p for p in uow.programs.list()}
        program_id = uow.programs.by_code(program_code).id if program_code else None
        return [_key(r, programs[r.program_id]) for r in ApiKeyRepo(uow.conn).list(program_id)]


def revoke_key(ctx: ServiceContext, key_id_or_prefix: str) -> ApiKey:
    """Revoke a key by id or prefix; it stops working at once. Revoking twice is a no-op.

    The prefix is tried first: it is random hex, so now and then it is all digits.
    """
    with ctx.uow() as uow:
        repo = ApiKeyRepo(uow.conn)
        ref = key_id_or_prefix.strip()
        row = repo.by_prefix(ref)
        if row is None and ref.isdigit():
            row = repo.get(int(ref))
        if row is None:
            raise NotFoundError(f"no API key {ref!r}", key=ref)
        repo.revoke(row.id, ctx.now())
        _AUTH_CACHE.clear()
        row = repo.get(row.id)
        assert row is not None
        program = uow.programs.get(row.program_id)
        uow.commit()
    return _key(row, program)
