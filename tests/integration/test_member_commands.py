"""Members and programs through their commands, on both databases: what an enrollment
stores, what a profile change touches, and the program settings commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from kopilka.domain.errors import ConflictError, NotFoundError
from kopilka.domain.program import Program, RestorePolicy
from kopilka.services import members as member_svc
from kopilka.services import programs as program_svc
from kopilka.services.context import ServiceContext
from kopilka.services.members import ConsentChoice, Enroll, Profile, UpdateProfile, identifiers


def test_an_enrollment_stores_what_its_command_says(
    ctx: ServiceContext, make_program: Callable[..., Program]
) -> None:
    """Identifiers as normalised, the profile (attribute names cut to 64 characters),
    consents on the enrollment's channel unless they name theirs, the referrer."""
    program = make_program()
    referrer = member_svc.enroll(ctx, program, Enroll(identifiers([("card", "REF-0001")])))
    member = member_svc.enroll(
        ctx,
        program,
        Enroll(
            identifiers([("card", "abc-12345"), ("email", "Anna@Example.com")]),
            Profile(first_name="Anna", birthday=date(1990, 5, 17), attributes={"k" * 70: 1}),
            (ConsentChoice("sms"), ConsentChoice("push", False, "web")),
            channel="till:S1",
            referral_code=referrer.referral_code,
        ),
    )
    assert member.identifiers == {"card": ["ABC-12345"], "email": ["anna@example.com"]}
    assert (member.first_name, member.birthday) == ("Anna", date(1990, 5, 17))
    assert member.attributes == {"k" * 64: 1}
    assert member.referred_by == referrer.id
    given = {
        c.purpose: (c.granted, c.channel)
        for c in member_svc.current_consents(ctx, program, member.id)
    }
    assert given == {"sms": (True, "till:S1"), "push": (False, "web")}
    with pytest.raises(NotFoundError):
        member_svc.enroll(
            ctx, program, Enroll(identifiers([("card", "XYZ-0001")]), referral_code="NOPE")
        )


def test_a_profile_change_touches_only_the_fields_it_names(
    ctx: ServiceContext, make_program: Callable[..., Program], make_member: Callable[..., int]
) -> None:
    """Fields not named stay; a named ``None`` clears (attributes to none); with
    ``keep_segments``, new attributes keep the member's segments."""
    program = make_program()
    member_id = make_member(
        program, first_name="Anna", last_name="Petrova", attributes={"segments": ["vip"], "a": 1}
    )
    change = UpdateProfile(
        member_id,
        Profile(last_name=None, attributes={"b": 2, "segments": ["hacked"]}),
        frozenset({"last_name", "attributes"}),
    )
    member = member_svc.update_profile(ctx, program, change, keep_segments=True)
    assert (member.first_name, member.last_name) == ("Anna", None)
    assert member.attributes == {"b": 2, "segments": ["vip"]}
    cleared = UpdateProfile(member_id, Profile(), frozenset({"attributes"}))
    assert member_svc.update_profile(ctx, program, cleared).attributes == {}


def test_program_commands(ctx: ServiceContext, make_program: Callable[..., Program]) -> None:
    """A program's code is unique; its restore policy changes by command, by code or id."""
    program = make_program(restore_policy="reissue")
    with pytest.raises(ConflictError):
        program_svc.create_program(ctx, program_svc.CreateProgram(program.code))
    changed = program_svc.set_restore_policy(
        ctx, program_svc.SetRestorePolicy(program.code, RestorePolicy.EXPIRE)
    )
    assert changed.restore_policy == RestorePolicy.EXPIRE
    assert program_svc.get_program(ctx, program.id).restore_policy == RestorePolicy.EXPIRE
    back = program_svc.SetRestorePolicy(program.id, RestorePolicy.REISSUE)
    assert program_svc.set_restore_policy(ctx, back).restore_policy == RestorePolicy.REISSUE
    totals = program_svc.program_totals(ctx, program)
    assert (totals["members"], totals["liability"]) == (0, 0)
