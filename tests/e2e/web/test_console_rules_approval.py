"""Rules proposed by a marketer and approved by an admin, when the program asks for it:
the proposal is stored, listed with its status, decided by an admin only, audited; with
the setting off, a marketer publishes directly as before."""

from __future__ import annotations

import re

import pytest

from kopilka.domain.errors import ConflictError, ValidationError
from kopilka.services import programs as program_svc
from kopilka.services import rule_proposals as proposals_svc
from kopilka.services import rules as rules_svc
from kopilka.services.audit_log import audit_page
from tests.e2e.web.test_console_rules import publish
from tests.e2e.web.world import RULES, hidden_fields, text_of

RU = {"Accept-Language": "ru"}
DRAFT = RULES.replace("factor: 2", "factor: 3")


def approval(world, on: bool) -> None:
    """Switch the program's approval of rules, as `kopilka program set-rules-approval` does."""
    program_svc.set_rules_approval(world.ctx, program_svc.SetRulesApproval(world.program.code, on))


def actions(world) -> list[str]:
    """The audit log's actions, oldest first."""
    return [e.action for e in reversed(audit_page(world.ctx, world.program.id)["items"])]


def propose(c, document: str = DRAFT, **extra: str):
    """A marketer's confirmed publication (a proposal when approval is on)."""
    return publish(c, document, **extra)


def decide(c, proposal_id: int, verb: str, headers=None, **extra: str):
    """Post the proposal page's approve or reject form."""
    page = c.get(f"/admin/rules/proposals/{proposal_id}").text
    action = f"/admin/rules/proposals/{proposal_id}/{verb}"
    fields = hidden_fields(page, action)
    return c.post(action, data={**fields, **extra}, headers=headers or {})


def test_with_approval_off_a_marketer_publishes_directly(world, as_role):
    """The default: no proposal, the confirmed publication is a version at once."""
    assert not proposals_svc.approval_required(world.ctx, world.program)
    response = propose(as_role("marketer"))
    assert response.headers["location"] == "/admin/rules?published=2"
    assert proposals_svc.latest_proposals(world.ctx, world.program) == []


def test_a_marketer_proposes_and_an_admin_approves(world, as_role):
    """With approval on, the marketer's confirmation says it proposes and takes effect when
    approved; the proposal is stored (document, effective time, who, when, status) and
    nothing is published; the admin sees it on the rules page, its diff against the version
    in force, approves it, and it is the version in force, audited; the marketer sees it
    approved."""
    approval(world, True)
    marketer = as_role("marketer")
    page = marketer.get("/admin/rules").text
    assert "Your publication becomes a proposal for an admin to approve." in text_of(page)
    fields = hidden_fields(page, "/admin/rules/publish")
    confirmation = marketer.post("/admin/rules/publish", data={**fields, "document": DRAFT})
    assert "Propose version 2?" in text_of(confirmation.text)
    # a proposal without a time of its own takes effect when approved, not "now"
    assert "Takes effect when approved" in text_of(confirmation.text)
    assert "at once, when published" not in confirmation.text
    sent = marketer.post(
        "/admin/rules/publish", data=hidden_fields(confirmation.text, "/admin/rules/publish")
    )
    assert sent.status_code == 303
    proposal_id = int(re.search(r"proposed=(\d+)", sent.headers["location"]).group(1))
    assert "Proposal" in text_of(marketer.get(sent.headers["location"]).text)
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 1
    stored = proposals_svc.get_proposal(world.ctx, world.program, proposal_id)
    assert stored["status"] == "proposed"
    assert stored["document"] == DRAFT
    assert stored["effective_at"] is None
    assert stored["proposed_by"].startswith("apikey:")
    assert stored["decided_by"] is None

    admin = as_role("admin")
    listed = text_of(admin.get("/admin/rules").text)
    assert f"Proposal {proposal_id} proposed" in listed
    shown = admin.get(f"/admin/rules/proposals/{proposal_id}")
    assert "Changes against version 1 in force" in text_of(shown.text)
    assert '<tr class="diff-added">' in shown.text
    approved = decide(admin, proposal_id, "approve")
    assert approved.status_code == 303
    assert approved.headers["location"] == "/admin/rules?published=2"
    versions = rules_svc.list_versions(world.ctx, world.program)
    assert [v["version"] for v in versions] == [1, 2]
    assert rules_svc.version_in_force(world.ctx, world.program)["document"] == DRAFT
    decided = proposals_svc.get_proposal(world.ctx, world.program, proposal_id)
    assert (decided["status"], decided["version"]) == ("approved", 2)
    assert decided["decided_by"].startswith("apikey:")
    assert actions(world)[-2:] == ["rules.propose", "rules.approve"]
    mine = text_of(marketer.get("/admin/rules").text)
    assert f"Proposal {proposal_id} approved Version 2" in mine
    ru = text_of(marketer.get("/admin/rules", headers=RU).text)
    assert f"Предложение {proposal_id} одобрено" in ru
    # decided: the forms are gone
    assert "/approve" not in admin.get(f"/admin/rules/proposals/{proposal_id}").text


def test_an_admin_rejects_with_a_comment_the_marketer_reads(world, as_role):
    """A rejection needs a comment (refused without one, in both languages, nothing
    changed); with one, the proposal is rejected, nothing is published, the marketer reads
    the comment, and the rejection is audited with it."""
    approval(world, True)
    propose(as_role("marketer"))
    (proposal,) = proposals_svc.latest_proposals(world.ctx, world.program)
    admin = as_role("admin")
    empty = decide(admin, proposal["id"], "reject", comment="  ")
    assert empty.status_code == 422
    assert "Say why the proposal is rejected." in text_of(empty.text)
    ru = decide(admin, proposal["id"], "reject", headers=RU, comment="")
    assert "Напишите, почему предложение отклонено." in text_of(ru.text)
    assert proposals_svc.get_proposal(world.ctx, world.program, proposal["id"])["status"] == (
        "proposed"
    )
    rejected = decide(admin, proposal["id"], "reject", comment="Triple points cost too much")
    assert rejected.status_code == 303
    found = proposals_svc.get_proposal(world.ctx, world.program, proposal["id"])
    assert (found["status"], found["comment"]) == ("rejected", "Triple points cost too much")
    assert len(rules_svc.list_versions(world.ctx, world.program)) == 1
    seen = text_of(as_role("marketer").get("/admin/rules").text)
    assert "rejected" in seen
    assert "Triple points cost too much" in seen
    (record,) = [
        e for e in audit_page(world.ctx, world.program.id)["items"] if e.action == "rules.reject"
    ]
    assert record.target == f"proposal:{proposal['id']}"
    assert record.after["comment"] == "Triple points cost too much"


def test_a_marketer_cannot_approve_or_reject(world, as_role):
    """Deciding is an admin's: a marketer who posts the forms anyway gets 403, and the
    proposal stays open; an admin's own publication is not a proposal."""
    approval(world, True)
    marketer = as_role("marketer")
    propose(marketer)
    (proposal,) = proposals_svc.latest_proposals(world.ctx, world.program)
    page = marketer.get(f"/admin/rules/proposals/{proposal['id']}").text
    assert "/approve" not in page
    token = hidden_fields(page, "/admin/sign-out")["csrf_token"]
    for verb in ("approve", "reject"):
        response = marketer.post(
            f"/admin/rules/proposals/{proposal['id']}/{verb}",
            data={"csrf_token": token, "idempotency_key": f"web-{verb}", "comment": "x"},
        )
        assert response.status_code == 403
    assert proposals_svc.get_proposal(world.ctx, world.program, proposal["id"])["status"] == (
        "proposed"
    )
    direct = publish(as_role("admin"), RULES.replace("factor: 2", "factor: 4"))
    assert direct.headers["location"] == "/admin/rules?published=2"


def test_a_proposal_decided_once_stays_decided(world):
    """The service refuses a second decision (conflict) and a broken proposal (nothing
    stored); approving publishes at the proposal's effective time."""
    approval(world, True)
    cmd = proposals_svc.ProposeRules(
        DRAFT, rules_svc.RulesFormat.YAML, None, key="k-propose", actor="cli:test"
    )
    made = proposals_svc.propose(world.ctx, world.program, cmd)
    proposals_svc.decide(
        world.ctx,
        world.program,
        proposals_svc.DecideProposal(made["id"], False, "no", key="k-1", actor="cli:admin"),
    )
    with pytest.raises(ConflictError):
        proposals_svc.decide(
            world.ctx,
            world.program,
            proposals_svc.DecideProposal(made["id"], True, key="k-2", actor="cli:admin"),
        )
    broken = proposals_svc.ProposeRules(
        "rules: [", rules_svc.RulesFormat.YAML, None, key="k-broken", actor="cli:test"
    )
    with pytest.raises(ValidationError):
        proposals_svc.propose(world.ctx, world.program, broken)
    assert len(proposals_svc.latest_proposals(world.ctx, world.program)) == 1
    with pytest.raises(ValidationError):
        proposals_svc.DecideProposal(made["id"], False, "  ", key="k-3", actor="cli:admin")
