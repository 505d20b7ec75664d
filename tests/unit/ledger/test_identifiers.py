"""Normal forms of member identifiers: one phone, email or card however it is typed."""

from __future__ import annotations

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.identifiers import mask, normalize


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("+7 (912) 345-67-89", "+79123456789"),
        ("89123456789", "+79123456789"),  # Russian trunk prefix 8 becomes +7
        ("8 912 345 67 89", "+79123456789"),
        ("+8 912 345 67 89", "+89123456789"),  # with '+', an 8 is a country code, kept
        ("  +49 30 1234567 ", "+49301234567"),
        ("7.912.345.67.89", "+79123456789"),
    ],
)
def test_phone_forms_are_one_number(typed, canonical):
    """Spaces, brackets, dots, dashes and the Russian leading 8 normalise to E.164."""
    assert normalize("phone", typed) == canonical


@pytest.mark.parametrize("typed", ["12-34", "+7 912 abc 67 89", "1234567", "+1234567890123456"])
def test_bad_phones_are_refused(typed):
    """Letters, too few (under 8) or too many (over 15) digits are validation errors."""
    with pytest.raises(ValidationError) as err:
        normalize("phone", typed)
    assert err.value.details["field"] == "phone"


def test_email_is_trimmed_and_lowercased():
    """'Anna@Example.COM ' and 'anna@example.com' are the same member."""
    assert normalize("email", " Anna@Example.COM ") == "anna@example.com"


@pytest.mark.parametrize("typed", ["anna", "anna@", "@example.com", "a b@example.com", "a@b.c"])
def test_bad_emails_are_refused(typed):
    """Malformed addresses are validation errors."""
    with pytest.raises(ValidationError):
        normalize("email", typed)


def test_card_is_uppercased_without_spaces():
    """Card numbers ignore case and spaces."""
    assert normalize("card", " ab 12-34 cd ") == "AB12-34CD"


@pytest.mark.parametrize("typed", ["AB1", "X" * 33, "AB_1234"])
def test_bad_cards_are_refused(typed):
    """Cards are 4-32 letters, digits or dashes."""
    with pytest.raises(ValidationError):
        normalize("card", typed)


def test_external_id_is_kept_as_typed_but_trimmed():
    """External ids are case-sensitive; only surrounding space is dropped."""
    assert normalize("external", " crm:User/42 ") == "crm:User/42"
    with pytest.raises(ValidationError):
        normalize("external", "has space")


@pytest.mark.parametrize(("kind", "value"), [("passport", "123"), ("phone", "  "), ("email", "")])
def test_unknown_kind_or_empty_value_is_refused(kind, value):
    """Only card, phone, email and external are identifiers, and none may be blank."""
    with pytest.raises(ValidationError):
        normalize(kind, value)


def test_mask_hides_most_of_the_value():
    """Logs see the last four characters of a number and the first letter of an email."""
    assert mask("phone", "+79123456789") == "********6789"
    assert mask("email", "anna@example.com") == "a***@example.com"
