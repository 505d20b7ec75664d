"""The member's own details and consents in the portal (issue 20): names, e-mail and
birthday edited through a form checked at its edge (each refusal writes nothing), consents
given and withdrawn through a confirmation, recorded from the portal and audited with the
member as the actor."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kopilka.domain.errors import NotFoundError
from kopilka.services import members as member_svc
from kopilka.services.audit_log import audit_page
from tests.e2e.web.queries_check import latest_consents
from tests.e2e.web.world import World, hidden_fields, portal_sign_in, text_of


def _details(world: World) -> tuple[object, ...]:
    """What the profile form may change, as stored."""
    m = member_svc.get_member(world.ctx, world.program, world.member_id)
    return (m.first_name, m.last_name, m.birthday, m.identifiers.get("email"), m.tier_code)


def _audited(world: World, action: str) -> list[object]:
    page = audit_page(world.ctx, world.program.id, target=f"member:{world.member_id}")
    return [r for r in page["items"] if r.action == action]


def _post_profile(anon, **values: str):
    """The profile form as the page renders it, with ``values`` filled in."""
    fields = hidden_fields(anon.get("/portal/profile").text, "/portal/profile")
    return anon.post("/portal/profile", data={**fields, **values})


def test_the_member_changes_names_email_and_birthday(world, anon):
    """The form shows the details on file; saving changes them in one go (the e-mail
    normalised, the old one no longer the member's), says so, and the audit log records
    the change with the member as the actor."""
    portal_sign_in(anon, world)
    form = anon.get("/portal/profile")
    assert form.status_code == 200
    assert 'value="Anna"' in form.text
    assert f'value="{world.email}"' in form.text
    response = _post_profile(
        anon,
        first_name=" Anya ",
        last_name="Ivanova",
        email="  Anya.New@Example.COM ",
        birthday="1990-05-31",
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/portal/profile?done=saved"
    assert "Your details are saved." in anon.get(response.headers["location"]).text
    assert _details(world) == ("Anya", "Ivanova", date(1990, 5, 31), ["anya.new@example.com"], None)
    found = member_svc.lookup(world.ctx, world.program, "email", "anya.new@example.com")
    assert found.id == world.member_id
    with pytest.raises(NotFoundError):
        member_svc.lookup(world.ctx, world.program, "email", world.email)
    [record] = _audited(world, "member.profile_update")
    assert record.actor == f"member:{world.member_id}"
    assert record.before is not None
    assert record.before["first_name"] == "Anna"
    assert record.after == {
        "first_name": "Anya",
        "last_name": "Ivanova",
        "birthday": "1990-05-31",
        "email": "a***@example.com",  # masked, as support screens show identifiers
    }
    home = text_of(anon.get("/portal").text)
    assert "Hello, Anya" in home
    assert "anya.new@example.com" in home


def test_an_empty_email_removes_it(world, anon):
    """Leaving the e-mail empty removes it: the old address finds nobody any more, and
    the card and phone stay."""
    portal_sign_in(anon, world)
    response = _post_profile(anon, first_name="Anna", last_name="Petrova", email="")
    assert response.status_code == 303
    member = member_svc.get_member(world.ctx, world.program, world.member_id)
    assert "email" not in member.identifiers
    assert member.identifiers["card"] == [world.card]
    with pytest.raises(NotFoundError):
        member_svc.lookup(world.ctx, world.program, "email", world.email)


TOO_LONG = "x" * (member_svc.MAX_NAME + 1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "anna@", "Enter an e-mail address such as name@example.com."),
        ("email", "not an address", "Enter an e-mail address such as name@example.com."),
        ("first_name", TOO_LONG, "At most 100 characters."),
        ("last_name", TOO_LONG, "At most 100 characters."),
        ("birthday", "31.05.1990", "Enter a date as year-month-day, such as 1990-05-31."),
        ("birthday", "2030-01-01", "A birthday cannot be in the future."),
        ("birthday", "1899-12-31", "Enter a date after 1900-01-01."),
    ],
)
def test_a_wrong_field_is_refused_by_the_field_and_nothing_is_written(
    world, anon, field, value, message
):
    """A malformed e-mail, an over-long name or an impossible birthday is refused at the
    edge: 422, the message beside the field (marked invalid), the other values kept in
    the form, and nothing written, the valid fields of the same form included."""
    portal_sign_in(anon, world)
    before = _details(world)
    values = {"first_name": "Changed", "last_name": "Name", "email": "", "birthday": ""}
    response = _post_profile(anon, **{**values, field: value})
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in response.text
    assert f'aria-describedby="{field}-error' in response.text
    assert "Nothing was saved." in response.text
    assert _details(world) == before
    assert _audited(world, "member.profile_update") == []


def test_field_errors_are_in_russian_on_a_russian_page(world, anon):
    """The same refusals read in Russian when the member reads Russian."""
    portal_sign_in(anon, world)
    anon.cookies.set("kopilka_lang", "ru")
    response = _post_profile(anon, first_name=TOO_LONG, email="anna@", birthday="2030-01-01")
    assert response.status_code == 422
    text = text_of(response.text)
    assert "Ничего не сохранено." in text
    assert "Не больше 100 символов." in text
    assert "Введите адрес электронной почты, например name@example.com." in text
    assert "День рождения не может быть в будущем." in text


def test_an_email_of_another_member_is_refused(world, anon):
    """An e-mail another member has (in any spelling) is a clear error by the e-mail
    field; nothing of the form is written."""
    member_svc.enroll(
        world.ctx,
        world.program,
        member_svc.Enroll(member_svc.identifiers([("email", "taken@example.com")])),
    )
    portal_sign_in(anon, world)
    before = _details(world)
    response = _post_profile(
        anon, first_name="Changed", last_name="Petrova", email="Taken@Example.com", birthday=""
    )
    assert response.status_code == 409
    assert "This e-mail belongs to another membership. Enter another one." in response.text
    assert 'value="Taken@Example.com"' in response.text  # shown again to correct
    assert _details(world) == before
    assert _audited(world, "member.profile_update") == []


def test_the_birthday_changes_at_most_once_in_the_interval(world, anon, clock):
    """A first birthday is set; changing it again within the interval (365 days) is
    refused by the field, saying from when it may change, with nothing written; the form
    says so beforehand and keeps the field read-only; a year later it changes."""
    portal_sign_in(anon, world)
    assert _post_profile(anon, first_name="Anna", birthday="1990-05-31").status_code == 303
    form = anon.get("/portal/profile").text
    # changed 2026-03-14 15:00 MSK: 365 days later is 2027-03-14 15:00, so the first
    # whole day it may change is the 15th
    assert "it can change again from 2027-03-15." in form
    assert "readonly" in form
    before = _details(world)
    response = _post_profile(anon, first_name="Changed", birthday="1991-06-01")
    assert response.status_code == 409
    assert "Your birthday was changed recently: it can change again from 2027-03-15." in (
        response.text
    )
    assert _details(world) == before
    clock.advance(timedelta(days=366))
    portal_sign_in(anon, world)  # the session timed out meanwhile
    assert _post_profile(anon, first_name="Anna", birthday="1991-06-01").status_code == 303
    assert _details(world)[2] == date(1991, 6, 1)


def test_the_member_sets_no_tier_segments_or_attributes(world, anon):
    """Fields the form does not have (a tier, attributes, segments) are ignored: a member
    sets only their names, e-mail and birthday."""
    portal_sign_in(anon, world)
    response = _post_profile(
        anon,
        first_name="Anna",
        last_name="Petrova",
        email=world.email,
        tier_code="gold",
        attributes='{"segments": ["vip"]}',
    )
    assert response.status_code == 303
    member = member_svc.get_member(world.ctx, world.program, world.member_id)
    assert member.tier_code is None
    assert member.attributes == {}


def test_saving_without_the_csrf_token_is_refused(world, anon):
    """A profile POST without the session's token is 403 and writes nothing."""
    portal_sign_in(anon, world)
    fields = hidden_fields(anon.get("/portal/profile").text, "/portal/profile")
    del fields["csrf_token"]
    before = _details(world)
    response = anon.post("/portal/profile", data={**fields, "first_name": "Mallory"})
    assert response.status_code == 403
    assert _details(world) == before


def test_giving_a_consent_goes_through_its_confirmation(world, anon, clock):
    """A purpose never answered (push) offers "Give consent"; its confirmation says what it
    means; confirmed, a "yes" is recorded now from the portal, audited with the member as
    the actor, and the history of answers shows it."""
    portal_sign_in(anon, world)
    home = anon.get("/portal").text
    assert "/portal/consents/confirm?purpose=push&amp;answer=grant" in home
    confirm = anon.get("/portal/consents/confirm?purpose=push&answer=grant")
    assert confirm.status_code == 200
    text = text_of(confirm.text)
    assert "Give consent to push notifications?" in text
    assert "The program may send you push notifications on your phone." in text
    assert latest_consents(world).get("push") is None  # the confirmation writes nothing
    fields = hidden_fields(confirm.text, "/portal/consents/grant")
    response = anon.post("/portal/consents/grant", data=fields)
    assert response.status_code == 303
    assert "Your consent is given." in anon.get(response.headers["location"]).text
    [push] = [
        c
        for c in member_svc.current_consents(world.ctx, world.program, world.member_id)
        if c.purpose == "push"
    ]
    assert (push.granted, push.channel, push.recorded_at) == (True, "portal", clock.now())
    [record] = _audited(world, "member.consent.grant")
    assert record.actor == f"member:{world.member_id}"
    assert record.before == {"purpose": "push", "granted": None}  # never answered
    assert record.after == {"purpose": "push", "granted": True}
    history = text_of(anon.get("/portal").text)
    assert "History of my answers" in history
    assert "push notifications: yes (portal)" in history


def test_withdrawing_goes_through_its_confirmation_in_russian(world, anon):
    """In Russian the confirmation says in plain words what withdrawing means; confirmed, a
    "no" is recorded from the portal."""
    portal_sign_in(anon, world)
    anon.cookies.set("kopilka_lang", "ru")
    confirm = anon.get("/portal/consents/confirm?purpose=marketing_email&answer=withdraw")
    text = text_of(confirm.text)
    assert "Программа перестанет присылать вам предложения и новости" in text
    assert "Да, отозвать" in text
    fields = hidden_fields(confirm.text, "/portal/consents/withdraw")
    assert anon.post("/portal/consents/withdraw", data=fields).status_code == 303
    assert latest_consents(world)["marketing_email"] is False
    history = member_svc.consent_history(world.ctx, world.program, world.member_id)
    assert (history[0].purpose, history[0].granted, history[0].channel) == (
        "marketing_email",
        False,
        "portal",
    )


def test_consent_changes_that_cannot_be_are_refused(world, anon):
    """A purpose neither on record nor offered has no confirmation (404); confirming what
    is already the answer goes back to the page; a forged grant of an unknown purpose or
    a withdrawal of what was not given is refused; without the token, 403. Nothing is
    written."""
    portal_sign_in(anon, world)
    before = latest_consents(world)
    assert anon.get("/portal/consents/confirm?purpose=spam&answer=grant").status_code == 404
    again = anon.get("/portal/consents/confirm?purpose=sms&answer=grant")
    assert (again.status_code, again.headers["location"]) == (303, "/portal")
    bad = anon.get("/portal/consents/confirm?purpose=sms&answer=maybe")
    assert bad.status_code == 422
    fields = hidden_fields(
        anon.get("/portal/consents/confirm?purpose=push&answer=grant").text,
        "/portal/consents/grant",
    )
    spam = {**fields, "purpose": "spam"}
    assert anon.post("/portal/consents/grant", data=spam).status_code == 422
    push = {**fields, "idempotency_key": "web-another-form"}
    assert anon.post("/portal/consents/withdraw", data=push).status_code == 422
    del fields["csrf_token"]
    assert anon.post("/portal/consents/grant", data=fields).status_code == 403
    assert latest_consents(world) == before
