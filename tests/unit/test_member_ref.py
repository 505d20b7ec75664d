"""The member selector of the use cases (``services/member_lookup.py``)."""

from __future__ import annotations

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.services.member_lookup import MemberRef, member_ref_of


def test_a_member_ref_names_exactly_one_member() -> None:
    """Neither or both of member_id and identifier is refused; a non-positive id too."""
    with pytest.raises(ValidationError):
        MemberRef()
    with pytest.raises(ValidationError):
        MemberRef(member_id=1, identifier=(IdentifierKind.CARD, "1234"))
    with pytest.raises(ValidationError):
        MemberRef(member_id=0)
    assert MemberRef(member_id=5).fingerprint() == {"member_id": 5}
    assert MemberRef(identifier=(IdentifierKind.PHONE, "+7 912")).fingerprint() == {
        "member": {"phone": "+7 912"}
    }


def test_member_ref_of_a_json_object() -> None:
    """The console's free JSON names its member as a body does; anything else is a 422."""
    assert member_ref_of({"member_id": 3}) == MemberRef(member_id=3)
    assert member_ref_of({"member": {"card": "C-1"}}) == MemberRef(
        identifier=(IdentifierKind.CARD, "C-1")
    )
    for bad in (
        {},
        {"member_id": True},
        {"member": {"card": "1", "phone": "2"}},
        {"member": {"x": "1"}},
    ):
        with pytest.raises(ValidationError):
            member_ref_of(bad)
