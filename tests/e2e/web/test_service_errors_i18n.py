"""A service's refusal reads wholly in the page's language: on a Russian page the
message itself is Russian (its template from the catalog, its figures filled in), not a
Russian summary followed by the English; on an English page it is the same English the
API says."""

from __future__ import annotations

import html

import pytest

from kopilka.services import members as member_svc
from tests.e2e.web.test_console_member_card import confirm, post_form, url
from tests.e2e.web.world import text_of


def _support(as_role, lang: str):
    c = as_role("support")
    c.cookies.set("kopilka_lang", lang)
    return c


def _refused(response, status: int) -> str:
    assert response.status_code == status, response.status_code
    return html.unescape(text_of(response.text))  # the page escapes the apostrophe


def _enroll(world, kind: str, value: str) -> None:
    member_svc.enroll(
        world.ctx, world.program, member_svc.Enroll(member_svc.identifiers([(kind, value)]))
    )


@pytest.mark.parametrize(
    ("lang", "expected", "absent"),
    [
        ("ru", "у участника доступно баллов: 300, списать 1 000 нельзя", "points available"),
        ("en", "member has 300 points available, cannot deduct 1000", "доступно"),
    ],
)
def test_taking_more_points_than_the_member_has(world, as_role, lang, expected, absent):
    """Support takes 1000 points from a member who has 300: the refusal names both
    figures in the page's language (Russian writes 1 000)."""
    c = _support(as_role, lang)
    action = url(world, "/adjust")
    step = post_form(c, world, action, delta="-1000", reason_code="customer_request")
    page = _refused(confirm(c, step, action), 422)
    assert expected in page
    assert absent not in page
    assert "insufficient_points" in page  # the stable code stays beside it


@pytest.mark.parametrize(
    ("lang", "expected", "absent"),
    [
        ("ru", "такой идентификатор (phone) уже зарегистрирован в программе", "registered"),
        ("en", "this phone is already registered in the program", "зарегистрирован"),
    ],
)
def test_a_phone_another_member_has(world, as_role, lang, expected, absent):
    """Adding a phone another member already has is refused in the page's language."""
    _enroll(world, "phone", "+79125550000")
    c = _support(as_role, lang)
    page = _refused(
        post_form(c, world, url(world, "/contact"), kind="phone", value="+7 912 555-00-00"), 409
    )
    assert expected in page
    assert absent not in page


@pytest.mark.parametrize(
    ("lang", "expected", "absent"),
    [
        ("ru", "такой идентификатор (card) уже зарегистрирован в программе", "registered"),
        ("en", "this card is already registered in the program", "зарегистрирован"),
    ],
)
def test_a_replacement_card_another_member_has(world, as_role, lang, expected, absent):
    """Replacing a lost card by one another member holds is refused in the page's
    language when the replacement is confirmed."""
    _enroll(world, "card", "TAKEN-1234")
    c = _support(as_role, lang)
    action = url(world, "/card")
    step = post_form(c, world, action, new_card="TAKEN-1234", reason_code="lost_card")
    page = _refused(confirm(c, step, action), 409)
    assert expected in page
    assert absent not in page


@pytest.mark.parametrize(
    ("lang", "expected", "absent"),
    [
        ("ru", "новая карта уже принадлежит этому участнику", "already"),
        ("en", "the new card is already this member's", "принадлежит"),
    ],
)
def test_a_replacement_card_the_member_already_has(world, as_role, lang, expected, absent):
    """Replacing a card by the member's own card is a refusal of the state, in the
    page's language."""
    c = _support(as_role, lang)
    action = url(world, "/card")
    step = post_form(c, world, action, new_card=world.card, reason_code="lost_card")
    page = _refused(confirm(c, step, action), 409)
    assert expected in page
    assert absent not in page
