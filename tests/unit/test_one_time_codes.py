"""One-time codes, the pure part: how a code is drawn, stored and judged through its life
(accepted once, wrong tries counted, dead after the last one, expired after its time)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.one_time_codes import (
    CODE_TTL,
    MAX_ATTEMPTS,
    Challenge,
    CodeChannel,
    CodePurpose,
    Verdict,
    address_digest,
    code_digest,
    new_code,
    read_address,
    well_formed,
)
from kopilka.domain.portal import luhn_digit, new_card_number

KEY = b"test-key"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def challenge(code: str = "123456", member_id: int | None = 7, **changes: object) -> Challenge:
    made = Challenge(
        id="challenge-1",
        program_id=1,
        member_id=member_id,
        channel=CodeChannel.SMS,
        digest=code_digest(KEY, "challenge-1", code),
        created_at=NOW,
        expires_at=NOW + CODE_TTL,
        attempts=0,
        ended_at=None,
    )
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def test_codes_are_six_digits_and_vary():
    """A code is six decimal digits (leading zeros kept); a thousand draws are not all one."""
    codes = {new_code() for _ in range(1000)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 900


def test_the_stored_digest_is_neither_the_code_nor_the_same_under_another_key_or_challenge():
    """Only an HMAC is kept: bound to the key and to the challenge."""
    digest = code_digest(KEY, "a", "123456")
    assert "123456" not in digest
    assert digest != code_digest(b"other-key", "a", "123456")
    assert digest != code_digest(KEY, "b", "123456")


def test_the_right_code_is_accepted_with_spaces_and_dashes():
    """What a person types around the digits does not matter."""
    assert challenge().check(KEY, "123456", NOW) == Verdict.ACCEPTED
    assert challenge().check(KEY, " 123-456 ", NOW) == Verdict.ACCEPTED
    assert well_formed("12345") is None
    assert well_formed("１２３４５６") is None  # full-width digits are not ASCII digits


def test_a_wrong_code_counts_and_the_last_try_kills_the_code():
    """Wrong codes are WRONG until the fifth, which makes the code SPENT: after it even the
    right code is refused."""
    for attempts in range(MAX_ATTEMPTS - 1):
        assert challenge(attempts=attempts).check(KEY, "000000", NOW) == Verdict.WRONG
    assert challenge(attempts=MAX_ATTEMPTS - 1).check(KEY, "000000", NOW) == Verdict.SPENT
    assert challenge(attempts=MAX_ATTEMPTS).check(KEY, "123456", NOW) == Verdict.SPENT
    assert challenge(attempts=2).attempts_left == MAX_ATTEMPTS - 2


def test_a_code_expires_and_an_ended_code_is_refused():
    """Past its time to live a code is EXPIRED; used or replaced (ended) it is SPENT."""
    late = NOW + CODE_TTL
    assert challenge().check(KEY, "123456", late - timedelta(seconds=1)) == Verdict.ACCEPTED
    assert challenge().check(KEY, "123456", late) == Verdict.EXPIRED
    assert challenge(ended_at=NOW).check(KEY, "123456", NOW) == Verdict.SPENT


def test_a_challenge_for_an_address_nobody_has_accepts_no_code():
    """No member, no message: even the code its digest was made of is WRONG."""
    assert challenge(member_id=None).check(KEY, "123456", NOW) == Verdict.WRONG


def test_an_address_is_read_as_a_phone_or_an_e_mail():
    """An @ makes it an e-mail address; both are normalized as at enrolment; neither is an
    error naming the field."""
    assert read_address(" Anna@Example.COM ") == (IdentifierKind.EMAIL, "anna@example.com")
    assert read_address("8 (912) 345-67-89") == (IdentifierKind.PHONE, "+79123456789")
    for bad in ("", "   ", "abc", "anna@"):
        with pytest.raises(ValidationError):
            read_address(bad)
    assert CodeChannel.for_kind(IdentifierKind.PHONE) == CodeChannel.SMS
    assert CodeChannel.for_kind(IdentifierKind.EMAIL) == CodeChannel.EMAIL


def test_the_address_digest_hides_the_address_and_depends_on_the_program():
    """The table keeps the address only as an HMAC, per program."""
    one = address_digest(KEY, 1, IdentifierKind.PHONE, "+79123456789")
    assert "9123456789" not in one
    assert one != address_digest(KEY, 2, IdentifierKind.PHONE, "+79123456789")


def test_a_code_to_join_is_accepted_for_an_address_nobody_has():
    """A sign-in code for nobody's address accepts no code; a code to join was sent, so its
    right code is accepted (and a wrong one is still wrong)."""
    assert challenge(member_id=None).check(KEY, "123456", NOW) == Verdict.WRONG
    joining = challenge(member_id=None, purpose=CodePurpose.JOIN)
    assert joining.check(KEY, "123456", NOW) == Verdict.ACCEPTED
    assert joining.check(KEY, "654321", NOW) == Verdict.WRONG


def test_a_card_number_for_a_member_who_joined_online():
    """Sixteen digits, no leading zero, a right Luhn check digit; numbers vary."""
    cards = {new_card_number() for _ in range(200)}
    assert len(cards) == 200
    for card in cards:
        assert len(card) == 16
        assert card.isdigit()
        assert card[0] != "0"
        assert card[-1] == luhn_digit(card[:-1])
    assert luhn_digit("7992739871") == "3"  # the textbook example
