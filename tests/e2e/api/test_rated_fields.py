"""Who may set what rules reward: a tier, segments, a birthday (issue 18, item 12).

Tier and segments are Kopilka's to compute; until then only support and admin keys set
them, audited. A birthday drives birthday bonuses: any enrolling key may give it at
enrollment, but only support and admin change it afterwards, audited, and at most once
in ``KOPILKA_BIRTHDAY_CHANGE_DAYS`` (365 by default).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kopilka.app import Kopilka
from kopilka.domain.clock import FrozenClock
from kopilka.settings import load_settings
from tests.e2e.api.conftest import MAX_BODY, KeyFactory, card, idem, row_counts


def _enroll(client: TestClient, headers: dict[str, str], **profile: Any) -> Any:
    return client.post(
        "/v1/members",
        json={"identifiers": {"card": card()}, "profile": profile},
        headers=idem(**headers),
    )


def _audit(client: TestClient, key_for: KeyFactory, member: int) -> list[dict[str, Any]]:
    r = client.get(
        "/v1/admin/audit", params={"target": f"member:{member}"}, headers=key_for("admin")
    )
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["items"]))


def _actor(client: TestClient, headers: dict[str, str]) -> str:
    me = client.get("/v1/me", headers=headers).json()
    return f"apikey:{me['key_id']}:{me['name']}"


@pytest.mark.parametrize("role", ["pos", "ecommerce"])
@pytest.mark.parametrize(
    "profile",
    [
        {"tier_code": "platinum"},
        {"attributes": {"segments": ["vip"]}},
        {"first_name": "Ann", "attributes": {"city": "Tver", "segments": []}},
    ],
    ids=["tier", "segments", "empty-segments"],
)
def test_a_till_or_shop_cannot_enroll_into_a_tier_or_segment(
    client: TestClient, kopilka: Kopilka, key_for: KeyFactory, role: str, profile: dict[str, Any]
) -> None:
    """An enrolment by a pos or ecommerce key that sets a tier or segments is 403
    field_not_allowed, naming the field, and writes nothing."""
    headers = key_for(role)
    before = row_counts(kopilka.engine)
    r = _enroll(client, headers, **profile)
    assert (r.status_code, r.json()["code"]) == (403, "field_not_allowed"), r.text
    assert r.json()["details"]["field"] in ("tier_code", "segments")
    assert row_counts(kopilka.engine) == before


@pytest.mark.parametrize("role", ["pos", "ecommerce", "admin"])
def test_any_enrolling_key_gives_a_birthday_and_attributes(
    client: TestClient, key_for: KeyFactory, role: str
) -> None:
    """The birthday and attributes without segments are given at enrolment by any key
    that enrolls; that is no change to audit."""
    r = _enroll(client, key_for(role), birthday="1990-05-01", attributes={"city": "Tver"})
    assert r.status_code == 201, r.text
    assert (r.json()["birthday"], r.json()["attributes"]) == ("1990-05-01", {"city": "Tver"})
    assert _audit(client, key_for, r.json()["id"]) == []


def test_an_admin_enrolment_with_a_tier_and_segments_is_audited(
    client: TestClient, key_for: KeyFactory
) -> None:
    """An admin key enrols into a tier and segments; the audit log names the key and what
    it set."""
    admin = key_for("admin")
    r = _enroll(client, admin, tier_code="gold", attributes={"segments": ["vip"], "city": "X"})
    assert r.status_code == 201, r.text
    assert (r.json()["tier_code"], r.json()["attributes"]["segments"]) == ("gold", ["vip"])
    (row,) = _audit(client, key_for, r.json()["id"])
    assert (row["action"], row["actor"]) == ("member.enroll", _actor(client, admin))
    assert (row["before"], row["after"]) == (None, {"tier_code": "gold", "segments": ["vip"]})


@pytest.mark.parametrize(
    "change",
    [
        {"tier_code": "platinum"},
        {"tier_code": None},
        {"attributes": {"segments": ["vip"]}},
        {"birthday": "1990-05-02"},
        {"birthday": None},
        {"first_name": "Ann", "birthday": "1990-05-01"},
    ],
    ids=["tier", "tier-cleared", "segments", "birthday", "birthday-cleared", "same-birthday"],
)
def test_an_ecommerce_key_cannot_change_a_tier_segments_or_birthday(
    client: TestClient, kopilka: Kopilka, key_for: KeyFactory, change: dict[str, Any]
) -> None:
    """A profile change by an ecommerce key that sets a tier, segments or a birthday
    (cleared, or even repeated) is 403 field_not_allowed and writes nothing."""
    member = _enroll(client, key_for("admin"), birthday="1990-05-01", tier_code="gold").json()
    shop = key_for("ecommerce")
    before = row_counts(kopilka.engine)
    r = client.patch(f"/v1/members/{member['id']}", json=change, headers=idem(**shop))
    assert (r.status_code, r.json()["code"]) == (403, "field_not_allowed"), r.text
    assert row_counts(kopilka.engine) == before


def test_an_ecommerce_keys_attributes_keep_the_members_segments(
    client: TestClient, key_for: KeyFactory
) -> None:
    """New attributes from an ecommerce key replace the others but keep the segments
    support set."""
    member = _enroll(client, key_for("admin"), attributes={"segments": ["vip"], "a": 1}).json()
    r = client.patch(
        f"/v1/members/{member['id']}",
        json={"attributes": {"b": 2}},
        headers=idem(**key_for("ecommerce")),
    )
    assert r.status_code == 200, r.text
    assert r.json()["attributes"] == {"b": 2, "segments": ["vip"]}


@pytest.mark.parametrize("role", ["support", "admin"])
def test_support_and_admin_set_a_tier_and_segments_audited(
    client: TestClient, key_for: KeyFactory, role: str
) -> None:
    """Support and admin keys change the tier and segments; the audit row names the key
    with the values before and after."""
    headers = key_for(role)
    member = _enroll(client, key_for("pos")).json()
    r = client.patch(
        f"/v1/members/{member['id']}",
        json={"tier_code": "silver", "attributes": {"segments": ["new"]}},
        headers=idem(**headers),
    )
    assert r.status_code == 200, r.text
    assert (r.json()["tier_code"], r.json()["attributes"]) == ("silver", {"segments": ["new"]})
    (row,) = _audit(client, key_for, member["id"])
    assert (row["action"], row["actor"]) == ("member.profile_update", _actor(client, headers))
    assert (row["before"]["tier_code"], row["after"]["tier_code"]) == (None, "silver")
    assert (row["before"]["attributes"], row["after"]["attributes"]) == ({}, {"segments": ["new"]})


@pytest.mark.parametrize("role", ["support", "admin"])
def test_a_birthday_changes_at_most_once_a_year(
    client: TestClient, key_for: KeyFactory, clock: FrozenClock, role: str
) -> None:
    """The birthday given at enrolment is corrected once at once (enrolment is no change),
    audited; another change within 365 days is 409 birthday_change_too_soon and changes
    nothing; repeating the same date is no change; after 365 days it changes again."""
    headers = key_for(role)
    member = _enroll(client, key_for("pos"), birthday="1990-05-01").json()
    url = f"/v1/members/{member['id']}"

    first = client.patch(url, json={"birthday": "1990-06-01"}, headers=idem(**headers))
    assert (first.status_code, first.json()["birthday"]) == (200, "1990-06-01"), first.text
    (row,) = _audit(client, key_for, member["id"])
    assert row["actor"] == _actor(client, headers)
    assert (row["before"]["birthday"], row["after"]["birthday"]) == ("1990-05-01", "1990-06-01")

    clock.advance(timedelta(days=364))
    again = client.patch(url, json={"birthday": "1990-07-01"}, headers=idem(**headers))
    assert (again.status_code, again.json()["code"]) == (409, "birthday_change_too_soon")
    assert "next_change_at" in again.json()["details"]
    cleared = client.patch(url, json={"birthday": None}, headers=idem(**headers))
    assert cleared.json()["code"] == "birthday_change_too_soon"
    same = client.patch(
        url, json={"birthday": "1990-06-01", "first_name": "Ann"}, headers=idem(**headers)
    )
    assert same.status_code == 200, same.text
    assert client.get(url, headers=headers).json()["birthday"] == "1990-06-01"

    clock.advance(timedelta(days=1))
    later = client.patch(url, json={"birthday": "1990-07-01"}, headers=idem(**headers))
    assert (later.status_code, later.json()["birthday"]) == (200, "1990-07-01"), later.text
    birthdays = [
        (r["before"]["birthday"], r["after"]["birthday"])
        for r in _audit(client, key_for, member["id"])
    ]
    assert birthdays == [
        ("1990-05-01", "1990-06-01"),
        ("1990-06-01", "1990-06-01"),
        ("1990-06-01", "1990-07-01"),
    ]


def test_a_birthday_set_first_after_enrolment_counts_as_a_change(
    client: TestClient, key_for: KeyFactory
) -> None:
    """A member enrolled without a birthday gets one from support; changing it again at
    once is refused (or a member could collect a bonus per change)."""
    support = key_for("support")
    member = _enroll(client, key_for("pos")).json()
    url = f"/v1/members/{member['id']}"
    assert client.patch(url, json={"birthday": "2000-01-01"}, headers=idem(**support)).is_success
    r = client.patch(url, json={"birthday": "2000-02-01"}, headers=idem(**support))
    assert r.json()["code"] == "birthday_change_too_soon"


def test_the_birthday_interval_is_a_setting(
    client: TestClient, kopilka: Kopilka, backend: str, key_for: KeyFactory
) -> None:
    """With KOPILKA_BIRTHDAY_CHANGE_DAYS=0 support changes a birthday as often as needed."""
    settings = load_settings(
        database_url=backend, environment="test", max_body_bytes=MAX_BODY, birthday_change_days=0
    )
    client.app.state.kopilka = Kopilka(settings, kopilka.engine, kopilka.services)  # type: ignore[attr-defined]
    support = key_for("support")
    member = _enroll(client, key_for("pos"), birthday="1990-05-01").json()
    url = f"/v1/members/{member['id']}"
    for day in ("1990-05-02", "1990-05-03"):
        r = client.patch(url, json={"birthday": day}, headers=idem(**support))
        assert (r.status_code, r.json()["birthday"]) == (200, day), r.text
