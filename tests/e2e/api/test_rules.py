"""Rule sets over HTTP: publish (audited), invalid documents with their line numbers,
versions, and previews that publish nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from kopilka.domain.clock import FrozenClock
from kopilka.domain.program import Program
from tests.e2e.api.conftest import KeyFactory, idem
from tests.e2e.api.factories import (
    RULES,
    RULES_DOUBLE_BASE,
    RULES_INVALID,
    basket,
    line,
)


def test_a_marketer_publishes_a_version_and_the_audit_log_records_it(
    client: TestClient, key_for: KeyFactory, admin: dict[str, str]
) -> None:
    """Publishing answers 201 with the version and every rule, and the audit log shows
    who published it."""
    marketer = key_for("marketer")
    r = client.post("/v1/rules", json={"document": RULES}, headers=idem(**marketer))
    assert r.status_code == 201, r.text
    published = r.json()
    assert published["version"] == 1
    assert [rule["id"] for rule in published["rules"]] == ["fruit", "base", "review"]
    audit = client.get("/v1/admin/audit", params={"target": "rules"}, headers=admin).json()
    assert [(e["action"], e["actor"]) for e in audit["items"]] == [
        ("rules.publish", published["published_by"])
    ]


def test_an_invalid_document_is_422_with_each_problem_on_its_line(
    client: TestClient, admin: dict[str, str]
) -> None:
    """Every problem of a bad document is listed in the problem's errors with its line,
    and no version is published."""
    r = client.post("/v1/rules", json={"document": RULES_INVALID}, headers=idem(**admin))
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "validation_error"
    assert [(e["line"], e["loc"][-1]) for e in problem["errors"]] == [
        (7, "rules[0].priority"),
        (14, "rules[1].rate.points"),
    ]
    assert "line 7" in problem["detail"]
    assert client.get("/v1/rules", headers=admin).json() == {"items": []}


def test_versions_are_listed_and_each_keeps_its_document(
    client: TestClient, admin: dict[str, str], clock: FrozenClock
) -> None:
    """Two publications make versions 1 and 2 (the second effective later); each version
    reads back with its document; an unknown version is 404."""
    later = (clock.now() + timedelta(days=7)).isoformat()
    client.post("/v1/rules", json={"document": RULES}, headers=idem(**admin))
    client.post(
        "/v1/rules",
        json={"document": RULES_DOUBLE_BASE, "effective_at": later},
        headers=idem(**admin),
    )
    versions = client.get("/v1/rules", headers=admin).json()["items"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["effective_at"] > versions[0]["effective_at"]
    second = client.get("/v1/rules/2", headers=admin).json()
    assert second["document"] == RULES_DOUBLE_BASE
    missing = client.get("/v1/rules/3", headers=admin)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def test_a_preview_evaluates_a_draft_and_publishes_nothing(
    client: TestClient, key_for: KeyFactory, make_member: Any, program: Program
) -> None:
    """A draft's points for a basket and for an event come back by rule and by line,
    while the published version and its quote stay as they were."""
    marketer = key_for("marketer")
    client.post("/v1/rules", json={"document": RULES}, headers=idem(**marketer))
    order = basket(line("1", "250.00"), member_id=make_member(program))
    draft = client.post(
        "/v1/rules/preview",
        json={"document": RULES_DOUBLE_BASE, "purchase": order},
        headers=marketer,
    )
    assert draft.status_code == 200, draft.text
    assert (draft.json()["by_rule"], draft.json()["by_line"]) == ({"base": 4}, {"1": 4})
    quote = client.post("/v1/purchases/quote", json=order, headers=key_for("pos"))
    assert quote.json()["points_earned"] == 2
    assert len(client.get("/v1/rules", headers=marketer).json()["items"]) == 1

    review = {"type": "review", "member_id": order["member_id"]}
    for_event = client.post(
        "/v1/rules/preview", json={"document": RULES, "event": review}, headers=marketer
    )
    assert for_event.json()["by_rule"] == {"review": 20}


def test_a_preview_of_an_invalid_draft_shows_its_lines(
    client: TestClient, admin: dict[str, str], make_member: Any, program: Program
) -> None:
    """Previewing a bad draft is the same 422 as publishing it, lines included."""
    order = basket(line("1", "250.00"), member_id=make_member(program))
    r = client.post(
        "/v1/rules/preview", json={"document": RULES_INVALID, "purchase": order}, headers=admin
    )
    assert r.status_code == 422
    assert [e["line"] for e in r.json()["errors"]] == [7, 14]


def test_a_preview_needs_exactly_one_of_a_purchase_or_an_event(
    client: TestClient, admin: dict[str, str]
) -> None:
    """A preview with neither a basket nor an event is a 422 validation problem."""
    r = client.post("/v1/rules/preview", json={"document": RULES}, headers=admin)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")


SELF_ALIAS = "redemption: {enabled: false}\nrules: &a [*a]\n"


def test_a_document_with_yaml_aliases_is_422_at_its_line_for_publish_and_preview(
    client: TestClient, key_for: KeyFactory, make_member: Any, program: Program
) -> None:
    """A rules document with an anchor and alias (``rules: &a [*a]``, once a 500 from
    runaway recursion) is a 422 naming the line and field, from publish and from preview,
    and nothing is published."""
    marketer = key_for("marketer")
    r = client.post("/v1/rules", json={"document": SELF_ALIAS}, headers=idem(**marketer))
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    assert [(e["line"], e["loc"][-1]) for e in r.json()["errors"]] == [(2, "rules")]
    order = basket(line("1", "250.00"), member_id=make_member(program))
    r = client.post(
        "/v1/rules/preview", json={"document": SELF_ALIAS, "purchase": order}, headers=marketer
    )
    assert r.status_code == 422
    assert [e["line"] for e in r.json()["errors"]] == [2]
    assert client.get("/v1/rules", headers=marketer).json() == {"items": []}


def test_an_effective_time_in_the_past_is_refused_without_backdate(
    client: TestClient, key_for: KeyFactory, admin: dict[str, str], clock: FrozenClock
) -> None:
    """A version effective before now contradicts 'effective on publication': 422 on
    effective_at for a marketer and for an admin who did not ask to backdate; nothing is
    published."""
    yesterday = (clock.now() - timedelta(days=1)).isoformat()
    for headers in (key_for("marketer"), admin):
        r = client.post(
            "/v1/rules",
            json={"document": RULES, "effective_at": yesterday},
            headers=idem(**headers),
        )
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
        assert "in the past" in r.json()["detail"]
        assert r.json()["details"]["field"] == "effective_at"
    assert client.get("/v1/rules", headers=admin).json() == {"items": []}


def test_only_an_admin_may_backdate_and_it_is_audited(
    client: TestClient, key_for: KeyFactory, admin: dict[str, str], clock: FrozenClock
) -> None:
    """``backdate: true`` from a marketer is 403 and publishes nothing; from an admin it
    publishes the version effective in the past and the audit log records it as
    ``rules.backdate`` with the admin as actor."""
    past = clock.now() - timedelta(days=400)
    body = {"document": RULES, "effective_at": past.isoformat(), "backdate": True}
    refused = client.post("/v1/rules", json=body, headers=idem(**key_for("marketer")))
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    pointless = client.post(
        "/v1/rules", json={"document": RULES, "backdate": True}, headers=idem(**admin)
    )
    assert (pointless.status_code, pointless.json()["details"]["field"]) == (422, "backdate")
    assert client.get("/v1/rules", headers=admin).json() == {"items": []}
    r = client.post("/v1/rules", json=body, headers=idem(**admin))
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["effective_at"]) == past
    audit = client.get("/v1/admin/audit", params={"target": "rules"}, headers=admin).json()
    assert [(e["action"], e["actor"]) for e in audit["items"]] == [
        ("rules.backdate", r.json()["published_by"])
    ]
    assert audit["items"][0]["after"]["effective_at"] == past.isoformat()


def test_backdating_never_changes_what_is_already_booked(
    client: TestClient, admin: dict[str, str], make_member: Any, program: Program, clock: Any
) -> None:
    """A purchase booked under version 1 keeps its points, awards, balance and history
    when an admin backdates version 2 (double base rate) to before that purchase; the
    return of that purchase claws back what it earned then. Only purchases booked
    afterwards are priced by version 2."""
    start = clock.now()
    assert client.post("/v1/rules", json={"document": RULES}, headers=idem(**admin)).status_code
    member_id = make_member(program)
    clock.set(start + timedelta(days=2))
    order = basket(line("1", "250.00"), member_id=member_id, receipt_id="B-1")
    booked = client.post("/v1/purchases", json=order, headers=idem(**admin)).json()
    assert booked["points_earned"] == 2
    before = client.get("/v1/purchases/B-1", headers=admin).json()
    history_before = client.get(f"/v1/members/{member_id}/history", headers=admin).json()
    balance_before = client.get(f"/v1/members/{member_id}/balance", headers=admin).json()
    balance_before.pop("as_of")

    clock.set(start + timedelta(days=3))
    r = client.post(
        "/v1/rules",
        json={
            "document": RULES_DOUBLE_BASE,
            "effective_at": (start + timedelta(days=1)).isoformat(),  # before B-1
            "backdate": True,
        },
        headers=idem(**admin),
    )
    assert r.status_code == 201, r.text

    assert client.get("/v1/purchases/B-1", headers=admin).json() == before
    history = client.get(f"/v1/members/{member_id}/history", headers=admin).json()
    assert history == history_before
    balance = client.get(f"/v1/members/{member_id}/balance", headers=admin).json()
    assert {k: v for k, v in balance.items() if k != "as_of"} == balance_before
    back = client.post(
        "/v1/purchases/B-1/returns", json={"return_id": "all"}, headers=idem(**admin)
    ).json()
    assert back["points_clawed_back"] == 2  # what version 1 awarded, not version 2's 4
    later = basket(line("1", "250.00"), member_id=member_id, receipt_id="B-2")
    assert (
        client.post("/v1/purchases", json=later, headers=idem(**admin)).json()["points_earned"] == 4
    )


def test_with_approval_on_a_marketers_publication_is_a_202_proposal(
    client: TestClient, key_for: KeyFactory, admin: dict[str, str], ctx: Any, program: Program
) -> None:
    """When the program asks that rules be approved, POST /v1/rules from a marketer answers
    202 with a stored proposal (audited as rules.propose) and publishes nothing; its
    status is read at /v1/rules/proposals/{id}; an admin's key still publishes (201)."""
    from kopilka.services import programs as program_svc

    program_svc.set_rules_approval(ctx, program_svc.SetRulesApproval(program.id, True))
    marketer = key_for("marketer")
    r = client.post("/v1/rules", json={"document": RULES}, headers=idem(**marketer))
    assert r.status_code == 202, r.text
    proposal = r.json()
    assert (proposal["status"], proposal["version"], proposal["effective_at"]) == (
        "proposed",
        None,
        None,
    )
    assert client.get("/v1/rules", headers=marketer).json() == {"items": []}
    shown = client.get(f"/v1/rules/proposals/{proposal['id']}", headers=marketer)
    assert shown.status_code == 200
    assert shown.json() == proposal
    assert client.get("/v1/rules/proposals/999999", headers=marketer).status_code == 404
    audit = client.get("/v1/admin/audit", params={"target": "rules"}, headers=admin).json()
    assert [e["action"] for e in audit["items"]] == ["rules.propose"]
    published = client.post("/v1/rules", json={"document": RULES}, headers=idem(**admin))
    assert published.status_code == 201
