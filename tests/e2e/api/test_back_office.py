"""Back-office actions over HTTP, each in the audit log with who, what, when, before, after."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from kopilka.domain.clock import FrozenClock
from kopilka.domain.program import Program
from tests.e2e.api.conftest import KeyFactory, card, idem


def _enroll(client: TestClient, headers: dict[str, str]) -> int:
    r = client.post("/v1/members", json={"identifiers": {"card": card()}}, headers=idem(**headers))
    return int(r.json()["id"])


def _audit(client: TestClient, headers: dict[str, str], member: int) -> list[dict[str, Any]]:
    r = client.get("/v1/admin/audit", params={"target": f"member:{member}"}, headers=headers)
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["items"]))


def test_support_actions_are_audited_with_before_and_after(
    client: TestClient, key_for: KeyFactory, give_points: Any
) -> None:
    """Adjust, block, unblock and a profile change by support each leave one audit row
    naming the key, with the state before and after."""
    support = key_for("support")
    member = _enroll(client, key_for("admin"))
    give_points(member, 50)
    url = f"/v1/members/{member}"
    client.post(
        f"/v1/admin/members/{member}/adjustments",
        json={"delta": -20, "reason": "double accrual"},
        headers=idem(**support),
    )
    client.patch(url, json={"first_name": "Olga"}, headers=idem(**support))
    client.post(f"{url}/block", json={"reason": "card sharing"}, headers=idem(**support))
    client.post(f"{url}/unblock", json={}, headers=idem(**support))

    rows = _audit(client, support, member)
    assert [r["action"] for r in rows] == [
        "points.adjust",
        "member.profile_update",
        "member.block",
        "member.unblock",
    ]
    me = client.get("/v1/me", headers=support).json()
    assert {r["actor"] for r in rows} == {f"apikey:{me['key_id']}:{me['name']}"}
    adjust, profile, block, unblock = rows
    assert (adjust["before"]["available"], adjust["after"]["available"]) == (50, 30)
    assert (profile["before"]["first_name"], profile["after"]["first_name"]) == (None, "Olga")
    assert block["after"] == {"status": "blocked", "blocked_reason": "card sharing"}
    assert unblock["after"]["status"] == "active"
    assert all(r["at"] for r in rows)


def test_a_refused_adjustment_leaves_no_audit_row(
    client: TestClient, key_for: KeyFactory, give_points: Any
) -> None:
    """Deducting more than available fails and writes neither points nor audit."""
    support = key_for("support")
    member = _enroll(client, key_for("admin"))
    r = client.post(
        f"/v1/admin/members/{member}/adjustments",
        json={"delta": -20, "reason": "x"},
        headers=idem(**support),
    )
    assert r.json()["code"] == "insufficient_points"
    assert _audit(client, support, member) == []


def test_sweeps_run_as_of_a_time_and_are_audited(
    client: TestClient,
    key_for: KeyFactory,
    make_program: Any,
    clock: FrozenClock,
) -> None:
    """Activation and expiry run as of a given time move the due points, and each run
    is in the audit log with its outcome."""
    program: Program = make_program(activation_delay_days=14, expiry_kind="days", expiry_n=30)
    admin = key_for("admin", prog=program)
    member = _enroll(client, admin)
    earned = client.post(f"/v1/members/{member}/earn", json={"points": 40}, headers=idem(**admin))
    assert earned.status_code == 201, earned.text

    balance = client.get(f"/v1/members/{member}/balance", headers=admin).json()
    assert (balance["available"], balance["pending"]) == (0, 40)
    assert [p["points"] for p in balance["pending_lots"]] == [40]
    assert [p["points"] for p in balance["expiring"]] == [40]

    def kinds() -> list[str]:
        history = client.get(f"/v1/members/{member}/history", headers=admin).json()
        return [item["kind"] for item in history["items"]]

    clock.advance(timedelta(days=60))
    as_of = (clock.now() - timedelta(days=45)).isoformat()
    activated = client.post(
        "/v1/admin/jobs/activate", json={"as_of": as_of}, headers=idem(**admin)
    ).json()
    assert activated["handled"] == 1
    assert kinds() == ["activate", "earn"]
    expired = client.post("/v1/admin/jobs/expire", headers=idem(**admin)).json()
    assert expired["handled"] == 1
    assert kinds() == ["expire", "activate", "earn"]
    balance = client.get(f"/v1/members/{member}/balance", headers=admin).json()
    assert (balance["available"], balance["pending"]) == (0, 0)

    audit = client.get("/v1/admin/audit", headers=admin).json()["items"]
    assert [a["action"] for a in audit] == ["job.expire", "job.activate"]
    assert audit[0]["after"]["handled"] == 1
    report = client.get("/v1/admin/verify", headers=admin).json()
    assert report["ok"], report


def test_program_settings_show_money_as_a_decimal_string(
    client: TestClient, admin: dict[str, str], program: Program
) -> None:
    """The program's point value travels as a decimal string."""
    settings = client.get("/v1/admin/program", headers=admin).json()
    assert settings["code"] == program.code
    assert settings["point_value"] == "1.00"
