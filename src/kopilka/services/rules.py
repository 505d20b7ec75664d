"""Publishing, listing and previewing rule sets.

A rule set is published as a new version with an effective time, now or later; older
versions stay for audit, and every earned point records the version and rule that produced
it. An effective time in the past (backdating) is refused unless the caller asks for it
explicitly: a chain migrating its history publishes its old rules backdated, then imports
its old purchases under them. Backdating never changes what is already booked: awards are
stored with their purchase and never recomputed, so a backdated version applies only to
purchases booked after it is published (imports and late receipts dated in its window). The
parsed form of each stored version is cached per process (documents never change once
published).
"""

from __future__ import annotations

import difflib
import enum
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from typing import NotRequired, TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from kopilka.domain.basket import Basket, BasketLine, Channel, check_occurred_at
from kopilka.domain.clock import ensure_utc
from kopilka.domain.errors import ConflictError, NotFoundError, ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.domain.rules import RuleSet, describe_rules, parse_ruleset
from kopilka.domain.rules.payments import check_payments, check_promo_codes, effective_basket
from kopilka.domain.rules.schema import Listed, NotChannels, NotIn
from kopilka.domain.rules.source import MAX_DOCUMENT_BYTES, document_bytes
from kopilka.services.context import ServiceContext
from kopilka.services.member_lookup import MemberRef, member_context, resolve_member
from kopilka.services.offer_facts import with_offers
from kopilka.store.repos.purchases import PurchaseRepo, StoredPurchase
from kopilka.store.repos.rules import RuleSetRepo, StoredRuleSet
from kopilka.store.uow import UnitOfWork

MAX_DOCUMENT = MAX_DOCUMENT_BYTES  # bytes of UTF-8 (so at most as many characters)


class RulesFormat(enum.StrEnum):
    """The text format of a rules document."""

    YAML = "yaml"
    JSON = "json"


FORMATS = tuple(f.value for f in RulesFormat)


@dataclass(frozen=True, slots=True)
class PreviewPurchase:
    """A basket of ``member``'s to evaluate a draft on."""

    member: MemberRef
    basket: Basket


@dataclass(frozen=True, slots=True)
class PreviewEvent:
    """An event of ``member``'s to evaluate a draft on (``occurred_at`` None: now)."""

    member: MemberRef
    type: str
    attributes: Mapping[str, object] | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PreviewRules:
    """Evaluate the draft ``document`` (in ``fmt``) on ``subject``, publishing nothing."""

    document: str
    subject: PreviewPurchase | PreviewEvent
    fmt: RulesFormat = RulesFormat.YAML


class RuleDescription(TypedDict):
    id: str
    kind: str
    description: str
    visible: bool
    event: str | None


class RuleVersion(TypedDict):
    version: int
    format: str
    effective_at: str
    published_at: str
    published_by: str
    rules: NotRequired[list[RuleDescription]]
    document: NotRequired[str]


class RulePreview(TypedDict):
    member_id: int
    points_earned: int
    by_rule: dict[str, int]
    by_line: dict[str, int]
    max_redeemable: int
    control_group: list[str]


@lru_cache(maxsize=256)
def _parsed(program_id: int, version: int, fmt: str, document: str) -> RuleSet:
    return parse_ruleset(document, fmt=fmt, version=version)


def parse_document(document: str, fmt: str, version: int) -> RuleSet:
    """Validate a rules document; errors name the line and the field."""
    if fmt not in FORMATS:
        raise ValidationError(msg("format must be yaml or json"), field="format")
    if not isinstance(document, str) or not document.strip():
        raise ValidationError(msg("the rules document is empty"), field="document")
    if document_bytes(document) > MAX_DOCUMENT:
        raise ValidationError(
            msg(
                "the rules document is larger than %(max_document)s bytes",
                max_document=MAX_DOCUMENT,
            ),
            field="document",
        )
    return parse_ruleset(document, fmt=fmt, version=version)


def _checked(
    uow: UnitOfWork,
    program: Program,
    document: str,
    fmt: RulesFormat | str,
    effective_at: datetime | None,
    backdate: bool,
    now: datetime,
) -> tuple[int, datetime, RuleSet]:
    """The next version's number, its effective time and its parsed rules, after the
    checks a publication makes (a :class:`ValidationError` otherwise)."""
    effective = ensure_utc(effective_at) if effective_at else now
    if effective < now and not backdate:
        raise ValidationError(
            msg(
                "effective_at is in the past: a version takes effect when it is published or "
                "later (leave effective_at out for now); an admin migrating history may "
                "backdate it explicitly"
            ),
            field="effective_at",
            effective_at=effective.isoformat(),
            now=now.isoformat(),
        )
    if backdate and effective >= now:
        # so that a publication audited as backdated always is one
        raise ValidationError(
            msg("backdate is only for an effective_at in the past"), field="backdate"
        )
    version = RuleSetRepo(uow.conn).latest_version(program.id) + 1
    ruleset = parse_document(document, str(fmt), version)
    if ruleset.currency != program.currency:
        raise ValidationError(
            msg(
                "the document's currency %(currency)s is not the program's %(program_currency)s",
                currency=ruleset.currency,
                program_currency=program.currency,
            ),
            field="currency",
        )
    return version, effective, ruleset


def publish(
    ctx: ServiceContext,
    program: Program,
    document: str,
    *,
    fmt: RulesFormat | str = RulesFormat.YAML,
    effective_at: datetime | None = None,
    actor: str = "system",
    backdate: bool = False,
    expected_version: int | None = None,
) -> RuleVersion:
    """Validate and store a new version, effective at ``effective_at`` (default: now).

    An ``effective_at`` in the past is a :class:`ValidationError` unless ``backdate`` is
    set; the interfaces allow ``backdate`` to admins only (``rules:backdate``) and audit it.
    With ``expected_version`` (the number a person confirmed), a version published by
    someone else meanwhile is a :class:`ConflictError` and nothing is published.
    """
    now = ctx.now()
    with ctx.uow() as uow:
        version, effective, ruleset = _checked(
            uow, program, document, fmt, effective_at, backdate, now
        )
        if expected_version is not None and version != expected_version:
            raise ConflictError(
                msg(
                    "version %(previous)s was published meanwhile: this draft would be version "
                    "%(version)s, not %(expected_version)s; check its changes and confirm again",
                    previous=version - 1,
                    version=version,
                    expected_version=expected_version,
                ),
                version=version,
                expected_version=expected_version,
            )
        stored = StoredRuleSet(version, str(fmt), document, effective, now, actor)
        RuleSetRepo(uow.conn).add(program.id, stored)
        uow.commit()
    return summary(stored, ruleset)


class DraftCheck(TypedDict):
    """What publishing a draft now would do: the version it would become, when it would
    take effect, and how it differs from the version in force."""

    version: int
    effective_at: str
    in_force: int | None  # the version in force now (None: none yet)
    added: list[str]  # rule ids: new in the draft
    removed: list[str]  # in force, gone from the draft
    changed: list[str]  # in both, written differently
    lines_added: int
    lines_removed: int
    rows: list[DiffRow]


def check_draft(
    ctx: ServiceContext,
    program: Program,
    document: str,
    *,
    fmt: RulesFormat | str = RulesFormat.YAML,
    effective_at: datetime | None = None,
    backdate: bool = False,
) -> DraftCheck:
    """Make every check :func:`publish` makes, writing nothing, and say what publishing
    would do: the version number (the next, unless another is published meanwhile), the
    effective time, and the changes against the version in force, by rule and by line.
    The step before a person confirms a publication (or a proposal)."""
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        version, effective, _ruleset = _checked(
            uow, program, document, fmt, effective_at, backdate, now
        )
        current = RuleSetRepo(uow.conn).active_at(program.id, now)
    before = current.document if current else ""
    old_rules = _raw_rules(before, current.format) if current else {}
    new_rules = _raw_rules(document, str(fmt))
    rows = diff_rows(before, document)
    return {
        "version": version,
        "effective_at": effective.isoformat(),
        "in_force": current.version if current else None,
        "added": [r for r in new_rules if r not in old_rules],
        "removed": [r for r in old_rules if r not in new_rules],
        "changed": [r for r in new_rules if r in old_rules and new_rules[r] != old_rules[r]],
        "lines_added": sum(1 for r in rows if r["kind"] == "added"),
        "lines_removed": sum(1 for r in rows if r["kind"] == "removed"),
        "rows": rows,
    }


def _raw_rules(document: str, fmt: str) -> dict[str, object]:
    """A valid document's rules as written, by id (the document was parsed already)."""
    from kopilka.domain.rules.source import load_with_lines

    data, _lines = load_with_lines(document, fmt)
    rules = data.get("rules") if isinstance(data, dict) else None
    return {str(r.get("id")): r for r in rules or [] if isinstance(r, dict)}


def audit_action(backdate: bool) -> str:
    """The audit log's name for a publication: backdating stands out from the rest."""
    return "rules.backdate" if backdate else "rules.publish"


def summary(stored: StoredRuleSet, ruleset: RuleSet | None = None) -> RuleVersion:
    """A stored version as the interfaces show it; with ``ruleset``, its rules too."""
    out: RuleVersion = {
        "version": stored.version,
        "format": stored.format,
        "effective_at": stored.effective_at.isoformat(),
        "published_at": stored.published_at.isoformat(),
        "published_by": stored.published_by,
    }
    if ruleset is not None:
        out["rules"] = _described(ruleset, visible_only=False)
    return out


def _described(ruleset: RuleSet, *, visible_only: bool) -> list[RuleDescription]:
    return [
        RuleDescription(**asdict(d))  # type: ignore[typeddict-item]
        for d in describe_rules(ruleset, visible_only=visible_only)
    ]


def list_versions(ctx: ServiceContext, program: Program) -> list[RuleVersion]:
    """Every published version of the program's rules, oldest first."""
    with ctx.uow(read_only=True) as uow:
        return [summary(s) for s in RuleSetRepo(uow.conn).list(program.id)]


def get_version(ctx: ServiceContext, program: Program, version: int) -> RuleVersion:
    """One version with its rules and the document as published (not_found otherwise)."""
    with ctx.uow(read_only=True) as uow:
        stored = RuleSetRepo(uow.conn).get(program.id, version)
    if stored is None:
        raise NotFoundError(
            msg("rule set version %(version)s not found", version=version), version=version
        )
    out = summary(stored, _parsed(program.id, stored.version, stored.format, stored.document))
    out["document"] = stored.document
    return out


def active_ruleset(uow: UnitOfWork, program: Program, at: datetime) -> RuleSet | None:
    """The rule set in force at ``at`` (None before the first publication)."""
    stored = RuleSetRepo(uow.conn).active_at(program.id, at)
    if stored is None:
        return None
    return _parsed(program.id, stored.version, stored.format, stored.document)


# parsed rule sets by engine and rule-set row id: a published row never changes, and the
# purchase path learns which row is in force from the database on every purchase (in the
# same query as the member), so a publication in any process takes effect at once
_BY_ROW: weakref.WeakKeyDictionary[Engine, dict[tuple[int, int], RuleSet]] = (
    weakref.WeakKeyDictionary()
)


def ruleset_by_id(uow: UnitOfWork, program: Program, rule_set_id: int | None) -> RuleSet | None:
    """The parsed rule set of a ``rule_sets`` row (see ``MemberRepo.get_with_rule_set``)."""
    if rule_set_id is None:
        return None
    engine = uow.conn.engine
    cache = _BY_ROW.get(engine)
    if cache is None:
        cache = _BY_ROW.setdefault(engine, {})
    found = cache.get((program.id, rule_set_id))
    if found is None:
        stored = RuleSetRepo(uow.conn).by_id(program.id, rule_set_id)
        if stored is None:
            raise NotFoundError(
                msg("rule set %(rule_set_id)s not found", rule_set_id=rule_set_id),
                rule_set_id=rule_set_id,
            )
        found = _parsed(program.id, stored.version, stored.format, stored.document)
        if len(cache) >= 256:
            cache.clear()
        cache[(program.id, rule_set_id)] = found
    return found


def visible_rules(ctx: ServiceContext, program: Program) -> list[RuleDescription]:
    """What a member may read about how to earn: the open rules in force now."""
    with ctx.uow(read_only=True) as uow:
        ruleset = active_ruleset(uow, program, ctx.now())
    if ruleset is None:
        return []
    return _described(ruleset, visible_only=True)


def category_names(ctx: ServiceContext, program: Program) -> dict[str, dict[str, str]]:
    """The names of the categories in the rules in force now (the document's
    ``categories:``), by code and language; empty before the first publication."""
    with ctx.uow(read_only=True) as uow:
        ruleset = active_ruleset(uow, program, ctx.now())
    if ruleset is None:
        return {}
    return {code: dict(names) for code, names in ruleset.category_names.items()}


def version_in_force(ctx: ServiceContext, program: Program) -> RuleVersion | None:
    """The version in force now, with its document (None before the first publication):
    where a marketer's draft starts."""
    with ctx.uow(read_only=True) as uow:
        stored = RuleSetRepo(uow.conn).active_at(program.id, ctx.now())
    if stored is None:
        return None
    return get_version(ctx, program, stored.version)


def sample_member(ctx: ServiceContext, program: Program) -> dict[str, object] | None:
    """A real member to preview a draft for, as a basket names them: the member of the
    program's most recent purchase, by card when they have one (else by id); None before
    any purchase."""
    with ctx.uow(read_only=True) as uow:
        member_id = PurchaseRepo(uow.conn).latest_member(program.id)
        if member_id is None:
            return None
        member = uow.members.get(program.id, member_id)
    cards = member.identifiers.get("card") or []
    if cards:
        return {"member": {"card": cards[0]}}
    return {"member_id": member_id}


def preview(ctx: ServiceContext, program: Program, cmd: PreviewRules) -> RulePreview:
    """Evaluate a draft rules document on a basket (as for a quote) or an event for a
    member, without publishing anything. Writes nothing."""
    from kopilka.domain.rules import evaluate_event, evaluate_purchase, max_redeemable
    from kopilka.services import usage
    from kopilka.services.balance_view import balance_now
    from kopilka.store.repos.rules import UsageRepo

    draft = parse_document(cmd.document, cmd.fmt, 0)
    subject = cmd.subject
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        member_id = resolve_member(uow, program, subject.member)
    # as the quote: the balance as of now, points due to expire already gone
    purchase = subject if isinstance(subject, PreviewPurchase) else None
    available = (
        max(balance_now(ctx, program, member_id).available, 0) if purchase is not None else 0
    )
    with ctx.uow(read_only=True) as uow:
        member = uow.members.get(program.id, member_id, identifiers=False)
        repo = UsageRepo(uow.conn)
        if isinstance(subject, PreviewPurchase):
            basket = effective_basket(subject.basket)
            check_payments(basket, 0, program.currency)  # a preview pays nothing with points
            if basket.promo_codes:  # as a quote: each code defined by the draft and valid
                local = basket.occurred_at.astimezone(ZoneInfo(program.timezone)).date()
                check_promo_codes(draft, basket.promo_codes, local)
            counters = usage.load(
                repo,
                program.id,
                usage.capped_rules(draft),
                member_id,
                basket.occurred_at,
                program.timezone,
            )
            who = with_offers(uow, program, draft, member_context(member), basket.occurred_at)
            result = evaluate_purchase(draft, program, basket, who, usage=counters)
            ceiling = max_redeemable(basket, draft, program, available, member.tier_code)
        else:
            name = subject.type
            at = now if subject.occurred_at is None else check_occurred_at(subject.occurred_at, now)
            counters = usage.load(
                repo,
                program.id,
                usage.capped_rules(draft, events=name),
                member_id,
                at,
                program.timezone,
            )
            result = evaluate_event(
                draft,
                program,
                name,
                dict(subject.attributes or {}),
                member_context(member),
                usage=counters,
                at=at,
            )
            ceiling = 0
    return {
        "member_id": member_id,
        "points_earned": result.total_points,
        "by_rule": result.points_by_rule(),
        "by_line": result.points_by_line(),
        "max_redeemable": ceiling,
        "control_group": list(result.control_group),
    }


SAMPLE_RECEIPTS = 50  # the latest purchases a draft is compared on


@dataclass(frozen=True, slots=True)
class CompareOnReceipts:
    """Evaluate the draft ``document`` (in ``fmt``) and the version in force on the
    program's latest ``limit`` purchases, publishing nothing."""

    document: str
    fmt: RulesFormat = RulesFormat.YAML
    limit: int = SAMPLE_RECEIPTS


class RuleChange(TypedDict):
    rule: str
    before: int
    after: int


class ReceiptsComparison(TypedDict):
    version: int | None  # the version in force (None: no rules yet, so nothing before)
    receipts: int
    points_before: int
    points_after: int
    by_rule: list[RuleChange]
    point_value_before_minor: int
    point_value_after_minor: int
    cost_before_minor: int
    cost_after_minor: int


def _listed(values: Listed | NotChannels | Sequence[str] | None) -> list[str] | None:
    """A list condition as the campaigns list shows it: ``{not: [a]}`` as ``["≠ a"]``."""
    if not values:
        return None
    if isinstance(values, NotIn | NotChannels):
        return [f"≠ {value}" for value in values.not_]
    return list(values)


def _basket_of(p: StoredPurchase) -> Basket:
    """A stored purchase as a basket again. The receipt's per-line "discounted" flags and
    tags are not stored, so rules that test them see none."""
    lines = tuple(
        BasketLine(
            line_id=ln.line_id,
            sku=ln.sku,
            quantity=ln.quantity,
            amount_minor=ln.amount_minor,
            category=ln.category or "",
            brand=ln.brand or "",
        )
        for ln in p.lines
    )
    meta = p.meta or {}
    return Basket(
        lines,
        p.occurred_at,
        store=p.store,
        channel=Channel(p.channel or Channel.TILL.value),
        partner=p.partner,
        payment_method=p.payment_method,
        # the line amounts are stored net of the order discount already
        payments=tuple((str(t), int(a)) for t, a in meta.get("payments", ())),
        promo_codes=frozenset(meta.get("promo_codes", ())),
    )


def compare_on_receipts(
    ctx: ServiceContext, program: Program, cmd: CompareOnReceipts
) -> ReceiptsComparison:
    """Points and their cost on the program's latest purchases under the version in force
    (before) and under the draft (after), in total and per rule. Both sides are evaluated
    alike with the rules engine, as the single-basket preview does: on the members as they
    are now, with each line's points-paid discount as booked, and without per-member caps
    (usage counters), which would count these very purchases. Writes nothing."""
    from kopilka.domain.rules import evaluate_purchase
    from kopilka.domain.rules.earning import point_value_minor

    if not 1 <= cmd.limit <= 500:
        raise ValidationError(msg("limit must be between 1 and 500"), field="limit")
    draft = parse_document(cmd.document, cmd.fmt, 0)
    with ctx.uow(read_only=True) as uow:
        current = active_ruleset(uow, program, ctx.now())
        sample = [p for p in PurchaseRepo(uow.conn).recent(program.id, cmd.limit) if p.lines]
        members = {
            mid: member_context(uow.members.get(program.id, mid, identifiers=False))
            for mid in {p.member_id for p in sample}
        }
    before: dict[str, int] = {}
    after: dict[str, int] = {}
    for p in sample:
        basket = _basket_of(p)
        paid = {ln.line_id: ln.discount_minor for ln in p.lines if ln.discount_minor}
        sides = ((draft, after), (current, before)) if current else ((draft, after),)
        for ruleset, into in sides:
            result = evaluate_purchase(
                ruleset,
                program,
                basket,
                members[p.member_id],
                points_redeemed_discount_by_line=paid,
            )
            for rule, pts in result.points_by_rule().items():
                into[rule] = into.get(rule, 0) + pts
    value_before = point_value_minor(current, program) if current else program.point_value_minor
    value_after = point_value_minor(draft, program)
    points_before, points_after = sum(before.values()), sum(after.values())
    rules = list(dict.fromkeys([*before, *after]))
    return {
        "version": current.version if current else None,
        "receipts": len(sample),
        "points_before": points_before,
        "points_after": points_after,
        "by_rule": [
            RuleChange(rule=r, before=before.get(r, 0), after=after.get(r, 0)) for r in rules
        ],
        "point_value_before_minor": value_before,
        "point_value_after_minor": value_after,
        "cost_before_minor": points_before * value_before,
        "cost_after_minor": points_after * value_after,
    }


class DiffRow(TypedDict):
    kind: str  # hunk (a "@@" header) | same | removed | added
    mark: str  # as the unified diff writes it: "@@", " ", "-", "+"
    old_line: int | None
    new_line: int | None
    text: str


class VersionDiff(TypedDict):
    a: RuleVersion
    b: RuleVersion
    rows: list[DiffRow]


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def diff_versions(ctx: ServiceContext, program: Program, a: int, b: int) -> VersionDiff:
    """The unified diff (difflib, three lines of context) from version ``a``'s document to
    version ``b``'s, as rows with each side's line number (not_found for a missing version).
    Equal documents give no rows."""
    old, new = get_version(ctx, program, a), get_version(ctx, program, b)
    return {"a": old, "b": new, "rows": diff_rows(old.get("document", ""), new.get("document", ""))}


def diff_rows(old_text: str, new_text: str) -> list[DiffRow]:
    """The unified diff (difflib, three lines of context) from one document to another,
    as rows with each side's line number; equal documents give no rows."""
    rows: list[DiffRow] = []
    old_no = new_no = 0
    lines = difflib.unified_diff(old_text.splitlines(), new_text.splitlines(), lineterm="")
    for line in lines:
        if line.startswith(("---", "+++")) and not rows:
            continue  # the two file headers
        hunk = _HUNK.match(line)
        if hunk:
            old_no, new_no = int(hunk.group(1)), int(hunk.group(2))
            rows.append(DiffRow(kind="hunk", mark="@@", old_line=None, new_line=None, text=line))
        elif line.startswith("-"):
            rows.append(
                DiffRow(kind="removed", mark="-", old_line=old_no, new_line=None, text=line[1:])
            )
            old_no += 1
        elif line.startswith("+"):
            rows.append(
                DiffRow(kind="added", mark="+", old_line=None, new_line=new_no, text=line[1:])
            )
            new_no += 1
        else:
            rows.append(
                DiffRow(kind="same", mark=" ", old_line=old_no, new_line=new_no, text=line[1:])
            )
            old_no += 1
            new_no += 1
    return rows


class RuleCampaign(TypedDict):
    id: str
    kind: str
    description: str
    status: str  # running | scheduled | ended
    starts: str | None  # ISO dates of the first and last day of its date ranges
    ends: str | None
    stores: list[str] | None  # None: every store
    channels: list[str] | None  # None: every channel
    event: str | None


def rule_campaigns(ctx: ServiceContext, program: Program) -> list[RuleCampaign]:
    """The rules of the version in force as campaigns, from their conditions: running
    (no dates, or today, in the program's zone, falls in one of its date ranges),
    scheduled (a range starts later) or ended (every range is past); with their first
    and last day, stores (the conditions' or the pilot's) and channels. Empty before the
    first publication."""
    from zoneinfo import ZoneInfo

    from kopilka.domain.rules import schema
    from kopilka.domain.rules.source import load_with_lines

    current = version_in_force(ctx, program)
    if current is None:
        return []
    data, _lines = load_with_lines(current.get("document", ""), current["format"])
    today = ctx.now().astimezone(ZoneInfo(program.timezone)).date()
    out: list[RuleCampaign] = []
    for raw in data.get("rules") or []:
        # published documents were validated whole: every rule has a known kind
        rule = schema.RULE_MODELS[raw["kind"]].model_validate(raw)
        ranges = rule.when.dates or []
        if not ranges or any(r.from_ <= today <= r.to for r in ranges):
            status = "running"
        elif any(r.from_ > today for r in ranges):
            status = "scheduled"
        else:
            status = "ended"
        stores = _listed(rule.when.stores) or (rule.pilot.stores if rule.pilot else None)
        out.append(
            RuleCampaign(
                id=rule.id,
                kind=str(raw["kind"]),
                description=rule.description,
                status=status,
                starts=min(r.from_ for r in ranges).isoformat() if ranges else None,
                ends=max(r.to for r in ranges).isoformat() if ranges else None,
                stores=list(stores) if stores else None,
                channels=_listed(rule.when.channels),
                event=str(raw.get("event")) if raw.get("event") else None,
            )
        )
    order = {"running": 0, "scheduled": 1, "ended": 2}
    return sorted(out, key=lambda c: order[c["status"]])
