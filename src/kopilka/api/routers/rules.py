"""Rule sets for the back office: publish a version (audited), list and read versions,
and preview a draft on a basket or an event without publishing it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from kopilka.api.deps import Ctx, CurrentKey, CurrentProgram, IdempotencyKey, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.rules import (
    PreviewRequest,
    PreviewResult,
    RuleProposalPublic,
    RuleSetCreate,
    RuleSetList,
    RuleSetPublic,
    RuleSetVersion,
)
from kopilka.services import back_office
from kopilka.services import rule_proposals as proposals_svc
from kopilka.services import rules as rules_svc
from kopilka.services.apikeys import Permission as P

router = APIRouter(prefix=f"{V1}/rules", tags=["rules"])
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]
READ = responses("unauthorized", "forbidden")


@router.get("", response_model=RuleSetList, dependencies=[permit(P.RULES_READ)], responses=READ)
def list_versions(ctx: Ctx, program: CurrentProgram) -> dict[str, Any]:
    """Every published version, oldest first, with when it takes effect and who published it."""
    return {"items": rules_svc.list_versions(ctx, program)}


PROPOSED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": RuleProposalPublic,
        "description": "the program asks that rules be approved and this key may not "
        "approve them: the document is stored as a proposal (audited as rules.propose) for "
        "an admin to approve or reject in the console; nothing is published yet",
    }
}


@router.post(
    "",
    status_code=201,
    response_model=RuleSetPublic,
    dependencies=[permit(P.RULES_PUBLISH)],
    responses={
        **responses("unauthorized", "forbidden", "idempotency_conflict", "payload_too_large"),
        **PROPOSED,
    },
)
def publish(
    body: RuleSetCreate, ctx: Ctx, key: CurrentKey, idempotency_key: IdempotencyKey
) -> rules_svc.RuleVersion | JSONResponse:
    """Validate a rules document and publish it as the next version, in force from
    ``effective_at``. An invalid document is a 422 whose ``errors`` give each problem's
    line. Audited.

    ``effective_at`` may not be in the past unless ``backdate`` is true, which only an
    admin key may send (403 otherwise); a backdated publication is audited as
    ``rules.backdate``.

    When the program asks that rules be approved, a key that may not approve them (a
    marketer's) proposes instead: ``202`` with the proposal, which an admin approves or
    rejects in the console; ``GET /v1/rules/proposals/{id}`` tells its status."""
    if body.backdate:
        key.require(P.RULES_BACKDATE)
    if P.RULES_APPROVE not in key.permissions and proposals_svc.approval_required(ctx, key.program):
        if body.backdate:  # pragma: no cover - only admins backdate, and they approve
            key.require(P.RULES_APPROVE)
        cmd = proposals_svc.ProposeRules(
            body.document,
            rules_svc.RulesFormat(body.format),
            body.effective_at,
            key=idempotency_key,
            actor=key.actor,
        )
        proposal = proposals_svc.propose(ctx, key.program, cmd)
        shown = RuleProposalPublic.model_validate(proposal).model_dump(mode="json")
        return JSONResponse(shown, status_code=202)
    return back_office.publish_rules(
        ctx,
        key.program,
        body.document,
        fmt=rules_svc.RulesFormat(body.format),
        effective_at=body.effective_at,
        backdate=body.backdate,
        key=idempotency_key,
        actor=key.actor,
    )


@router.post(
    "/preview",
    response_model=PreviewResult,
    dependencies=[permit(P.RULES_PUBLISH)],
    responses=responses("unauthorized", "forbidden", "not_found", "payload_too_large"),
)
def preview(body: PreviewRequest, ctx: Ctx, program: CurrentProgram) -> rules_svc.RulePreview:
    """What a draft document would give a member for a basket or an event, by rule and
    by line. Publishes and writes nothing, so it takes no Idempotency-Key."""
    return rules_svc.preview(ctx, program, body.to_command(program, ctx.now()))


@router.get(
    "/proposals/{proposal_id:int}",
    response_model=RuleProposalPublic,
    dependencies=[permit(P.RULES_READ)],
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def get_proposal(
    proposal_id: Annotated[int, Path(ge=1, le=2**63 - 1)], ctx: Ctx, program: CurrentProgram
) -> proposals_svc.RuleProposalDocument:
    """A proposal of rules and its status: proposed, approved (with the version it
    published) or rejected (with the admin's comment); the answer leaves its document out."""
    return proposals_svc.get_proposal(ctx, program, proposal_id)


@router.get(
    "/{version:int}",
    response_model=RuleSetVersion,
    dependencies=[permit(P.RULES_READ)],
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def get_version(version: Version, ctx: Ctx, program: CurrentProgram) -> rules_svc.RuleVersion:
    """One version: its rules and the document as published."""
    return rules_svc.get_version(ctx, program, version)
