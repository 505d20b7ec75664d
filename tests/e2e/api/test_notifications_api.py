"""``/v1/notifications`` on both databases: the topics and which templates a program
changed, one template, its preview, storing it only when it renders (each problem with its
part and line, nothing written otherwise), dropping it, and the policy read and replaced;
reads for program:read, changes for admins only, audited under the key."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from kopilka.app import Kopilka
from kopilka.domain.program import Program
from kopilka.store.tables import audit_log, message_templates
from tests.e2e.api.conftest import KeyFactory

URL = "/v1/notifications/templates/winback/en"
GOOD = {
    "subject": "We miss you at {{ program_name }}",
    "html": "<p>{{ days }} days, {{ balance }} points.</p><a href='{{ unsubscribe_url }}'>x</a>",
    "text": "{{ days }} days, {{ balance }} points.\nUnsubscribe: {{ unsubscribe_url }}",
}


def test_a_template_is_read_previewed_stored_and_dropped(
    client: TestClient, key_for: KeyFactory, kopilka: Kopilka, program: Program
) -> None:
    """The default until the program stores its own; the preview renders the sample
    values and stores nothing; PUT stores, the list says so, a reset goes back to the
    default; each change is audited under the key."""
    admin = key_for("admin")
    shipped = client.get(URL, headers=admin).json()
    assert shipped["custom"] is False
    assert "unsubscribe_url" in shipped["text"]
    preview = client.post(f"{URL}/preview", json=GOOD, headers=admin)
    assert preview.status_code == 200, preview.text
    assert preview.json()["subject"].startswith("We miss you at ")
    assert "points." in preview.json()["text"]
    assert client.get(URL, headers=admin).json()["custom"] is False
    stored = client.put(URL, json=GOOD, headers=admin)
    assert stored.status_code == 200, stored.text
    assert stored.json() == {"topic": "winback", "language": "en", **GOOD, "custom": True}
    listed = {
        t["topic"]: t for t in client.get("/v1/notifications/templates", headers=admin).json()
    }
    assert listed["winback"]["custom"] == {"ru": False, "en": True}
    assert listed["winback"]["purpose"] == "marketing"
    assert set(listed["winback"]["variables"]) == {"days", "balance"}
    assert listed["otp_code"]["urgent"] is True
    dropped = client.post(f"{URL}/reset", headers=admin)
    assert dropped.status_code == 200
    assert dropped.json()["custom"] is False
    with kopilka.engine.connect() as conn:
        actions = conn.execute(
            select(audit_log.c.action, audit_log.c.actor)
            .where(audit_log.c.program_id == program.id)
            .order_by(audit_log.c.id)
        ).all()
    mine = [a for a, _ in actions if a.startswith("notifications.template")]
    assert mine == ["notifications.template", "notifications.template_reset"]


def test_a_template_that_does_not_render_is_refused_with_its_lines(
    client: TestClient, key_for: KeyFactory, kopilka: Kopilka, program: Program
) -> None:
    """A misspelt variable, a syntax error and a marketing body without the unsubscribe
    link: 422 listing each problem's part and line, the preview too; nothing stored."""
    admin = key_for("admin")
    bad = {
        "subject": "Hi {% if %}",
        "html": "<p>{{ balance }}</p>",
        "text": "line one\n{{ dayz }} days\n{{ unsubscribe_url }}",
    }
    refused = client.put(URL, json=bad, headers=admin)
    assert refused.status_code == 422
    problems = refused.json()["errors"]
    dayz = {"loc": ["body", "text"], "msg": "'dayz' is undefined", "type": "message_template"}
    assert {**dayz, "line": 2} in problems
    assert any(p["loc"] == ["body", "subject"] and p["line"] == 1 for p in problems)
    assert any(p["loc"] == ["body", "html"] and "unsubscribe_url" in p["msg"] for p in problems)
    assert client.post(f"{URL}/preview", json=bad, headers=admin).status_code == 422
    nul = client.put(URL, json={**GOOD, "text": "a\x00b"}, headers=admin)
    assert nul.status_code == 422
    with kopilka.engine.connect() as conn:
        stored = select(message_templates.c.topic).where(
            message_templates.c.program_id == program.id
        )
        assert conn.execute(stored).all() == []


def test_a_template_asking_for_ten_billion_characters_is_refused_and_the_api_goes_on(
    client: TestClient, key_for: KeyFactory, kopilka: Kopilka, program: Program
) -> None:
    """A subject asking for a string of ten billion characters: PUT and the preview are
    422 with the subject's problem (the check's process ran out of its memory, not the
    API's), nothing is stored, and the next good template is stored."""
    admin = key_for("admin")
    huge = {**GOOD, "subject": "{{ 'x' * 10**10 }}"}
    for refused in (
        client.put(URL, json=huge, headers=admin),
        client.post(f"{URL}/preview", json=huge, headers=admin),
    ):
        assert refused.status_code == 422
        problems = refused.json()["errors"]
        assert [(p["loc"], p["msg"]) for p in problems] == [(["body", "subject"], "MemoryError")]
    with kopilka.engine.connect() as conn:
        stored = select(message_templates.c.topic).where(
            message_templates.c.program_id == program.id
        )
        assert conn.execute(stored).all() == []
    assert client.put(URL, json=GOOD, headers=admin).status_code == 200


def test_unknown_topics_and_languages(client: TestClient, key_for: KeyFactory) -> None:
    """A topic nobody registered is 404; a language other than ru and en does not match."""
    admin = key_for("admin")
    missing = client.get("/v1/notifications/templates/no_such_topic/en", headers=admin)
    assert missing.status_code == 404
    assert client.get("/v1/notifications/templates/winback/de", headers=admin).status_code in (
        404,
        422,
    )


def test_the_policy_is_read_and_replaced(client: TestClient, key_for: KeyFactory) -> None:
    """The defaults first; a PUT replaces them (a channel not named keeps its default);
    wrong values are 422 naming the field; only an admin changes it."""
    admin = key_for("admin")
    policy = client.get("/v1/notifications/policy", headers=key_for("marketer")).json()
    assert policy["quiet_hours"] == {"start": "21:00", "end": "09:00"}
    assert policy["caps"]["sms"] == {"count": 2, "days": 7}
    wanted = {
        "caps": {"email": {"count": 5, "days": 30.0}},  # a whole float is a whole number
        "quiet_hours": {"start": "22:00", "end": "08:30"},
        "default_language": "en",
        "disabled_topics": ["winback"],
    }
    done = client.put("/v1/notifications/policy", json=wanted, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["caps"]["email"] == {"count": 5, "days": 30}
    assert done.json()["caps"]["push"] == {"count": 2, "days": 7}
    assert client.get("/v1/notifications/policy", headers=admin).json() == done.json()
    for wrong in (
        {"quiet_hours": {"start": "25:00", "end": "08:00"}},
        {"caps": {"fax": {"count": 1, "days": 1}}},
        {"caps": {"sms": {"count": 1001, "days": 7}}},
        {"disabled_topics": ["no_such_topic"]},
        {"default_language": "de"},
    ):
        refused = client.put("/v1/notifications/policy", json=wrong, headers=admin)
        assert refused.status_code == 422, wrong
    assert client.get("/v1/notifications/policy", headers=admin).json() == done.json()
    marketer = client.put("/v1/notifications/policy", json={}, headers=key_for("marketer"))
    assert marketer.status_code == 403
