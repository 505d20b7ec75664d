"""The events of issue 23's second slice, on both databases: earning, redeeming and holds
outside a purchase, a rule's points for a recorded event, consents, identifiers, erasure,
scheduled accruals and finished imports each write their event in their own transaction,
with the payload of its published shape; program events have no member."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import TypeAdapter

from kopilka.domain.errors import InsufficientPoints, ValidationError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.reasons import Reason, ReasonCode
from kopilka.services import events as events_svc
from kopilka.services import identifiers as identifier_svc
from kopilka.services import members as member_svc
from kopilka.services import outbox, points, rules
from kopilka.services import worker as worker_svc
from kopilka.services.imports import import_members
from kopilka.services.member_lookup import MemberRef
from kopilka.services.points import Earn, PlaceHold, Redeem
from tests.integration.purchases.conftest import SIMPLE_RULES


@pytest.fixture
def program(ctx, make_program):
    p = make_program()
    rules.publish(ctx, p, SIMPLE_RULES, actor="test")
    return p


def shaped(event):
    """The event's payload and envelope validate, strictly, against what is published."""
    TypeAdapter(outbox.PAYLOADS[event["type"]]).validate_python(event["data"], strict=True)
    TypeAdapter(outbox.EventEnvelope).validate_python(event, strict=True)
    return event


def test_earn_redeem_hold_and_a_rules_event_write_their_events(ctx, program, make_member):
    """A credit, a redemption, a hold and an event a rule pays for write points.earned,
    points.redeemed, hold.placed and points.earned (source ``event``), in the member's
    order; a replay of the credit writes none."""
    m = make_member(program)
    earn = Earn(m, 200, key="e-1", reference="crm-7")
    points.earn(ctx, program, earn)
    points.earn(ctx, program, earn)  # a replay
    points.redeem(ctx, program, Redeem(m, 50, key="r-1", reference="gift"))
    held = points.hold(ctx, program, PlaceHold(m, 30, key="h-1", store="S1"))
    events_svc.record_event(ctx, program, events_svc.RecordEvent("ev-1", "review", MemberRef(m)))
    events = [shaped(e) for e in outbox.member_events(ctx, program, m)]
    assert [e["type"] for e in events] == [
        "member.enrolled",
        "points.earned",
        "points.redeemed",
        "hold.placed",
        "points.earned",
    ]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5]
    earned, redeemed, placed, by_rule = (e["data"] for e in events[1:])
    assert (earned["points"], earned["source"], earned["reference"]) == (200, "earn", "crm-7")
    assert earned["balance"]["available"] == 200
    assert (redeemed["points"], redeemed["reference"]) == (50, "gift")
    assert placed["hold_id"] == held["hold_id"]
    assert placed["store"] == "S1"
    assert placed["points"] == 30
    assert placed["expires_at"]
    assert (by_rule["source"], by_rule["rule_id"], by_rule["points"]) == ("event", "review", 20)
    assert by_rule["reference"] == "event:ev-1"


def test_a_refused_redemption_writes_no_event(ctx, program, make_member):
    """Spending more than the balance is refused and leaves no event."""
    m = make_member(program)
    with pytest.raises(InsufficientPoints):
        points.redeem(ctx, program, Redeem(m, 50, key="r-none"))
    assert [e["type"] for e in outbox.member_events(ctx, program, m)] == ["member.enrolled"]


def test_consents_identifiers_and_erasure_write_their_events(ctx, program, make_member):
    """A consent given and withdrawn, a phone added, a card replaced and an erasure each
    write one event, naming no personal value; a refused consent change writes none."""
    m = make_member(program)
    member_svc.change_consent(
        ctx, program, member_svc.ChangeConsent(m, "marketing_sms", True, "web"), ctx.now()
    )
    member_svc.change_consent(
        ctx, program, member_svc.ChangeConsent(m, "marketing_sms", False), ctx.now()
    )
    with pytest.raises(ValidationError):
        member_svc.change_consent(
            ctx, program, member_svc.ChangeConsent(m, "marketing_sms", False), ctx.now()
        )
    identifier_svc.change_contact(
        ctx,
        program,
        identifier_svc.ChangeContact(
            m, IdentifierKind.PHONE, "+79123456780", key="c-1", actor="agent"
        ),
    )
    identifier_svc.replace_card(
        ctx,
        program,
        identifier_svc.ReplaceCard(
            m, "NEWCARD0001", Reason(ReasonCode.LOST_CARD), key="c-2", actor="agent"
        ),
    )
    member_svc.erase(ctx, program, m)
    events = [shaped(e) for e in outbox.member_events(ctx, program, m)]
    assert [e["type"] for e in events] == [
        "member.enrolled",
        "consent.changed",
        "consent.changed",
        "identifier.changed",
        "identifier.changed",
        "member.erased",
    ]
    given, withdrawn, phone, card, _erased = (e["data"] for e in events[1:])
    assert (given["purpose"], given["granted"], given["channel"]) == ("marketing_sms", True, "web")
    assert withdrawn["granted"] is False
    assert phone == {"member_id": m, "kind": "phone", "replaced": False}
    assert card == {"member_id": m, "kind": "card", "replaced": True}
    assert "79123456780" not in str(events)
    assert "NEWCARD0001" not in str(events)


def test_an_accrual_writes_points_earned_per_member_and_one_accrual_done(
    ctx, clock, program, make_member
):
    """A scheduled accrual's run credits each member with a points.earned (source
    ``accrual``) and ends with one program event accrual.done carrying its counts."""
    ms = [make_member(program) for _ in range(2)]
    done = worker_svc.schedule_accrual(
        ctx,
        program,
        worker_svc.ScheduleAccrual(
            tuple(MemberRef(member_id=m) for m in ms), 70, "spring", ctx.now(), "cli:test"
        ),
    )
    clock.advance(timedelta(minutes=1))
    worker = worker_svc.Worker(
        ctx,
        worker_svc.WorkerOptions(
            worker_id="W",
            lease=timedelta(minutes=2),
            poll_seconds=0.01,
            once=True,
            program_ids=(program.id,),
            jobs=("accruals",),
        ),
    )
    worker.round()
    for m in ms:
        (earned,) = [
            e for e in outbox.member_events(ctx, program, m) if e["type"] != "member.enrolled"
        ]
        assert earned["data"]["source"] == "accrual"
        assert earned["data"]["reference"] == f"accrual:{done['id']}"
    program_events = [shaped(e) for e in outbox.list_events(ctx, program) if e["member_id"] is None]
    assert [e["type"] for e in program_events] == ["accrual.done"]
    assert program_events[0]["data"] == {
        "accrual_id": done["id"],
        "points": 70,
        "reason": "spring",
        "credited": 2,
        "refused": 0,
    }


def test_a_finished_import_writes_import_finished_once(ctx, program, tmp_path):
    """An import that finishes its file writes one import.finished with the file's name
    and counts; running the finished file again writes no second one."""
    path = tmp_path / "members.csv"
    path.write_text("external_id,card,first_name\next-1,CARD9001,Anna\next-2,CARD9002,Boris\n")
    import_members(ctx, program, path)
    import_members(ctx, program, path)
    finished = [e for e in outbox.list_events(ctx, program) if e["type"] == "import.finished"]
    assert len(finished) == 1
    data = shaped(finished[0])["data"]
    assert (data["kind"], data["file"]) == ("members", "members.csv")
    assert (data["counts"]["rows"], data["counts"]["imported"]) == (2, 2)
