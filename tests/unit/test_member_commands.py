"""The typed commands of members and programs: what each checks itself, and what the HTTP
edge builds from a request body (the services take only these since issue 19)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kopilka.api.schemas.members import MemberCreate, ProfileUpdate
from kopilka.domain.errors import ValidationError
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.program import RestorePolicy
from kopilka.services.members import (
    ConsentChoice,
    Enroll,
    Profile,
    UpdateProfile,
    clean_profile,
    identifier,
    identifiers,
)
from kopilka.services.programs import CreateProgram

CARD = (IdentifierKind.CARD, "1234567890")


def test_an_enrollment_needs_one_to_twenty_identifiers() -> None:
    """No identifier, or more than 20, is refused when the command is made, naming
    ``identifiers``; 20 is fine."""
    with pytest.raises(ValidationError) as none:
        Enroll(())
    assert none.value.details["field"] == "identifiers"
    many = tuple(identifier("external", f"x{i}") for i in range(21))
    with pytest.raises(ValidationError) as too_many:
        Enroll(many)
    assert too_many.value.details["field"] == "identifiers"
    assert len(Enroll(many[:20]).identifiers) == 20


def test_identifiers_are_normalised_and_blanks_left_out() -> None:
    """``identifiers`` normalises each value as enrollment stores it (phones to E.164,
    e-mails lower-cased), skips blanks and refuses an unknown kind."""
    got = identifiers(
        [("phone", "8 (916) 123-45-67"), ("email", " Anna@Example.COM "), ("card", "")]
    )
    assert got == (
        (IdentifierKind.PHONE, "+79161234567"),
        (IdentifierKind.EMAIL, "anna@example.com"),
    )
    with pytest.raises(ValidationError):
        identifiers([("passport", "1234")])


def test_a_profile_checks_its_names_and_attributes() -> None:
    """Names over 100 characters and more than 50 attributes are refused, naming the
    field; ``given`` lists the fields that have a value."""
    with pytest.raises(ValidationError) as long_name:
        Profile(last_name="x" * 101)
    assert long_name.value.details["field"] == "last_name"
    with pytest.raises(ValidationError) as wide:
        Profile(attributes={f"k{i}": i for i in range(51)})
    assert wide.value.details["field"] == "attributes"
    assert Profile(first_name="Anna", attributes={}).given() == {"first_name", "attributes"}


def test_rated_fields_at_enrollment_and_on_a_change() -> None:
    """A tier and segments are rated at enrollment, a birthday is not; on a change, the
    birthday is too, and a field sent as null counts (clearing it is changing it)."""
    enrolling = Enroll(
        (CARD,),
        Profile(birthday=date(1990, 1, 2), tier_code="gold", attributes={"segments": ["vip"]}),
    )
    assert enrolling.rated_fields() == ["tier_code", "segments"]
    assert Enroll((CARD,), Profile(birthday=date(1990, 1, 2))).rated_fields() == []
    clearing = UpdateProfile(7, Profile(), frozenset({"birthday", "tier_code", "first_name"}))
    assert clearing.rated_fields() == ["tier_code", "birthday"]


def test_a_change_names_only_profile_fields() -> None:
    """A change naming a field a profile does not have is refused, naming it."""
    with pytest.raises(ValidationError) as unknown:
        UpdateProfile(7, Profile(), frozenset({"first_name", "status"}))
    assert unknown.value.details["field"] == "status"


def test_the_http_body_becomes_an_enroll_command() -> None:
    """``MemberCreate.to_command``: identifiers normalised in the body's order, the
    profile's fields, consents with their own channel or none (the enrollment's)."""
    body = MemberCreate.model_validate(
        {
            "identifiers": {"email": "Anna@Example.COM", "card": "12345678"},
            "profile": {"first_name": "Anna", "birthday": "1990-05-17"},
            "consents": [
                {"purpose": "sms", "granted": False, "channel": "web"},
                {"purpose": "push"},
            ],
            "referral_code": "ABC",
        }
    )
    command = body.to_command("till:S1")
    assert command == Enroll(
        identifiers=((IdentifierKind.CARD, "12345678"), (IdentifierKind.EMAIL, "anna@example.com")),
        profile=Profile(first_name="Anna", birthday=date(1990, 5, 17)),
        consents=(ConsentChoice("sms", False, "web"), ConsentChoice("push", True, None)),
        channel="till:S1",
        referral_code="ABC",
    )


def test_the_http_patch_names_the_fields_it_sent() -> None:
    """``ProfileUpdate.to_command``: the fields the body gave, ``null`` among them, and
    no other."""
    command = ProfileUpdate.model_validate({"last_name": None, "gender": "f"}).to_command(7)
    assert command == UpdateProfile(
        7, Profile(last_name=None, gender="f"), frozenset({"last_name", "gender"})
    )


def test_clean_profile_keeps_the_importers_contract() -> None:
    """The importer's parser: the fields given, a birthday parsed, null attributes
    as none and attribute names cut to 64 characters; a bad birthday names the field."""
    out = clean_profile({"first_name": "A", "birthday": "1990-05-17", "attributes": None})
    assert out == {"first_name": "A", "birthday": date(1990, 5, 17), "attributes": {}}
    assert clean_profile({"attributes": {"k" * 70: 1}}) == {"attributes": {"k" * 64: 1}}
    with pytest.raises(ValidationError) as bad:
        clean_profile({"birthday": "17.05.1990"})
    assert bad.value.details["field"] == "birthday"


def test_create_program_defaults_and_checks() -> None:
    """A program's name defaults to its code and its restore policy to ``expire``; the
    domain checks the settings, naming the field."""
    program = CreateProgram("shop").program(3)
    assert (program.id, program.name, program.restore_policy) == (3, "shop", RestorePolicy.EXPIRE)
    assert program.hold_ttl == timedelta(seconds=900)
    with pytest.raises(ValidationError) as bad:
        CreateProgram("shop", currency="rub").program(0)
    assert bad.value.details["field"] == "currency"
    with pytest.raises(ValidationError) as zone:
        CreateProgram(
            "shop", timezone="Mars/Olympus", expiry=ExpiryPolicy(ExpiryKind.DAYS, 30)
        ).program(0)
    assert zone.value.details["field"] == "timezone"
