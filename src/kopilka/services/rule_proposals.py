"""Rules proposed by a marketer and approved by an admin.

A program may ask that rules be approved (``Program.rules_approval``, set by
``kopilka program set-rules-approval``; off by default). Then a marketer's publication is
stored as a proposal (:func:`propose`): the document, when it should take effect, who
proposed it and when. An admin approves it, which publishes it as the next version
(:func:`decide`), or rejects it with a comment; either decision is final and audited
(``rules.approve``, ``rules.reject``), as the proposal is (``rules.propose``). A proposal
is checked as a publication is when it is made, and again when it is approved (another
version may have been published in between, or its effective time passed).
"""

from __future__ import annotations

import hashlib
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from typing import TypedDict

from kopilka.domain.clock import ensure_utc
from kopilka.domain.errors import ConflictError, NotFoundError, ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.services import rules as rules_svc
from kopilka.services.audit_log import Audit, recorded_write
from kopilka.services.context import ServiceContext
from kopilka.store.repos.rules import ProposalRepo, StoredProposal

MAX_COMMENT = 1000
SHOWN = 20  # the latest proposals the rules page lists


class RuleProposal(TypedDict):
    """A proposal as the interfaces show it (times in ISO 8601)."""

    id: int
    format: str
    effective_at: str | None  # None: when it is approved
    proposed_by: str
    proposed_at: str
    status: str  # proposed | approved | rejected
    decided_by: str | None
    decided_at: str | None
    comment: str | None
    version: int | None  # the version its approval published


class RuleProposalDocument(RuleProposal):
    document: str


@dataclass(frozen=True, slots=True)
class ProposeRules:
    """Propose ``document`` (in ``fmt``) to take effect at ``effective_at`` (None: when
    approved), as ``actor``, under the idempotency ``key``."""

    document: str
    fmt: rules_svc.RulesFormat
    effective_at: datetime | None
    _: KW_ONLY
    key: str
    actor: str

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to (the document by its digest)."""
        return {
            "sha256": hashlib.sha256(self.document.encode("utf-8", "replace")).hexdigest(),
            "format": str(self.fmt),
            "effective_at": self.effective_at.isoformat() if self.effective_at else None,
        }


@dataclass(frozen=True, slots=True)
class DecideProposal:
    """Approve (publish) or reject proposal ``proposal_id``, as ``actor``; a rejection
    carries a ``comment`` for the marketer."""

    proposal_id: int
    approve: bool
    comment: str | None = None
    _: KW_ONLY
    key: str
    actor: str

    def __post_init__(self) -> None:
        comment = (self.comment or "").strip()
        if not self.approve and not comment:
            raise ValidationError(msg("a rejection needs a comment"), field="comment")
        if len(comment) > MAX_COMMENT:
            raise ValidationError(
                msg("a comment is at most %(max_comment)s characters", max_comment=MAX_COMMENT),
                field="comment",
            )

    def fingerprint(self) -> dict[str, object]:
        """The request the key is bound to."""
        return {"proposal_id": self.proposal_id, "approve": self.approve, "comment": self.comment}


def approval_required(ctx: ServiceContext, program: Program) -> bool:
    """Whether the program asks that rules be approved, as stored now (not as a cached
    copy of the program says)."""
    with ctx.uow(read_only=True) as uow:
        return uow.programs.get(program.id).rules_approval


def _shown(p: StoredProposal) -> RuleProposal:
    return {
        "id": p.id,
        "format": p.format,
        "effective_at": p.effective_at.isoformat() if p.effective_at else None,
        "proposed_by": p.proposed_by,
        "proposed_at": p.proposed_at.isoformat(),
        "status": p.status,
        "decided_by": p.decided_by,
        "decided_at": p.decided_at.isoformat() if p.decided_at else None,
        "comment": p.comment,
        "version": p.version,
    }


def propose(ctx: ServiceContext, program: Program, cmd: ProposeRules) -> RuleProposal:
    """Store a proposal, checked as a publication would be (a :class:`ValidationError`
    with each problem's line, and nothing stored, otherwise); audited as
    ``rules.propose``."""
    effective_at = ensure_utc(cmd.effective_at) if cmd.effective_at else None
    # every check of a publication, now: a broken draft is never proposed
    rules_svc.check_draft(ctx, program, cmd.document, fmt=cmd.fmt, effective_at=effective_at)

    def effect(inner: ServiceContext) -> RuleProposal:
        with inner.uow() as uow:
            repo = ProposalRepo(uow.conn)
            proposal_id = repo.add(
                program.id, str(cmd.fmt), cmd.document, effective_at, cmd.actor, inner.now()
            )
            stored = repo.get(program.id, proposal_id)
            uow.commit()
        assert stored is not None
        return _shown(stored)

    return recorded_write(
        ctx,
        program.id,
        key=cmd.key,
        operation="rules.propose",
        request=cmd.fingerprint(),
        effect=effect,
        audit=Audit(cmd.actor, "rules.propose", "rules"),
    )


def decide(ctx: ServiceContext, program: Program, cmd: DecideProposal) -> RuleProposal:
    """Approve a proposal (it is published as the next version, effective when it asked,
    or now) or reject it with a comment; audited as ``rules.approve`` or
    ``rules.reject``. A proposal already decided is a conflict; an approval of one that
    no longer passes the checks of a publication (its effective time has passed, say) is
    a :class:`ValidationError`, and the proposal stays open."""
    action = "rules.approve" if cmd.approve else "rules.reject"

    def effect(inner: ServiceContext) -> RuleProposal:
        with inner.uow() as uow:
            repo = ProposalRepo(uow.conn)
            found = repo.get(program.id, cmd.proposal_id, lock=True)
            if found is None:
                raise NotFoundError(
                    msg("rule proposal %(proposal_id)s not found", proposal_id=cmd.proposal_id),
                    proposal_id=cmd.proposal_id,
                )
            if found.status != "proposed":
                raise ConflictError(
                    msg(
                        "rule proposal %(proposal_id)s is %(status)s already",
                        proposal_id=cmd.proposal_id,
                        status=found.status,
                    ),
                    proposal_id=cmd.proposal_id,
                    status=found.status,
                )
            version = None
            if cmd.approve:
                published = rules_svc.publish(
                    inner,
                    program,
                    found.document,
                    fmt=found.format,
                    effective_at=found.effective_at,
                    actor=cmd.actor,
                )
                version = published["version"]
            comment = (cmd.comment or "").strip() or None
            status = "approved" if cmd.approve else "rejected"
            if not repo.decide(
                program.id, found.id, status, cmd.actor, inner.now(), comment, version
            ):  # pragma: no cover - the row is locked (one writer on SQLite)
                raise ConflictError(
                    msg(
                        "rule proposal %(proposal_id)s was decided meanwhile",
                        proposal_id=cmd.proposal_id,
                    )
                )
            decided = repo.get(program.id, found.id)
            uow.commit()
        assert decided is not None
        return _shown(decided)

    return recorded_write(
        ctx,
        program.id,
        key=cmd.key,
        operation=action,
        request=cmd.fingerprint(),
        effect=effect,
        audit=Audit(cmd.actor, action, f"proposal:{cmd.proposal_id}"),
    )


def latest_proposals(
    ctx: ServiceContext, program: Program, limit: int = SHOWN
) -> list[RuleProposal]:
    """The program's latest proposals, newest first, with their status."""
    with ctx.uow(read_only=True) as uow:
        return [_shown(p) for p in ProposalRepo(uow.conn).latest(program.id, limit)]


def get_proposal(ctx: ServiceContext, program: Program, proposal_id: int) -> RuleProposalDocument:
    """One proposal with its document (not_found otherwise)."""
    with ctx.uow(read_only=True) as uow:
        found = ProposalRepo(uow.conn).get(program.id, proposal_id)
    if found is None:
        raise NotFoundError(
            msg("rule proposal %(proposal_id)s not found", proposal_id=proposal_id),
            proposal_id=proposal_id,
        )
    return {**_shown(found), "document": found.document}


def proposal_diff(
    ctx: ServiceContext, program: Program, proposal_id: int
) -> tuple[RuleProposalDocument, list[rules_svc.DiffRow], int | None]:
    """A proposal, the diff of its document against the version in force now, and that
    version's number (None before the first publication)."""
    proposal = get_proposal(ctx, program, proposal_id)
    current = rules_svc.version_in_force(ctx, program)
    before = current.get("document", "") if current else ""
    rows = rules_svc.diff_rows(before, proposal["document"])
    return proposal, rows, current["version"] if current else None
