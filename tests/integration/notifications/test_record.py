"""Recording messages on both databases: queued or suppressed with the right reason
(address, consent, withdrawal, cap, blocked member, topic switched off), quiet hours in the
program's zone, dedupe keys, and sending (at once and by the job) with the sensitive
variables erased afterwards."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta

import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.notifications import (
    Channel,
    FrequencyCap,
    NotificationPolicy,
    QuietHours,
)
from kopilka.services import members as member_svc
from kopilka.services import notifications as notif
from kopilka.services.notifications import Notify, deliver, deliver_now, notify

NO_QUIET = NotificationPolicy(quiet_hours=QuietHours(time(0), time(0)))


def record(ctx, program, **fields):
    with ctx.uow() as uow:
        out = notify(uow, program, Notify(program_id=program.id, **fields), ctx.now())
        uow.commit()
    return out


def winback(member_id, **more):
    return {
        "member_id": member_id,
        "topic": "winback",
        "variables": {"days": 60, "balance": 5},
        **more,
    }


def test_transactional_goes_to_the_members_email_regardless_of_consent(ctx, make_program, enroll):
    """An expiry reminder to a member who consented to nothing is queued, to their e-mail
    address (masked in the log), in the program's default language."""
    program = make_program()
    notif.set_policy(ctx, program, NO_QUIET, "admin")
    m = enroll(program)
    out = record(
        ctx,
        program,
        member_id=m,
        topic="expiry_reminder",
        variables={"points": 120, "date": "31.03.2026", "balance": 500},
    )
    assert out["status"] == "queued"
    assert out["reason"] is None
    assert out["channel"] == "email"
    assert out["address_masked"].startswith("a***@example.org")
    (view,) = notif.member_messages(ctx, program, m)
    assert view["locale"] == "ru"
    assert view["topic"] == "expiry_reminder"
    assert view["purpose"] == "transactional"


def test_marketing_needs_the_channels_consent(ctx, make_program, enroll):
    """Marketing by e-mail goes to a member who said yes to marketing_email; a member
    never asked is suppressed ``no_consent``, one who withdrew ``unsubscribed``, a
    blocked one ``blocked``; by SMS the e-mail consent does not count."""
    program = make_program()
    notif.set_policy(ctx, program, NO_QUIET, "admin")
    yes = enroll(program, consents=("marketing_email",))
    never = enroll(program)
    withdrew = enroll(program, consents=("marketing_email",))
    member_svc.change_consent(
        ctx, program, member_svc.ChangeConsent(withdrew, "marketing_email", False), ctx.now()
    )
    assert record(ctx, program, **winback(yes))["status"] == "queued"
    assert record(ctx, program, **winback(never))["reason"] == "no_consent"
    assert record(ctx, program, **winback(withdrew))["reason"] == "unsubscribed"
    assert record(ctx, program, **winback(yes, channel=Channel.SMS))["reason"] == "no_consent"
    member_svc.set_blocked(ctx, program, yes, True, "fraud")
    assert record(ctx, program, **winback(yes))["reason"] == "blocked"


def test_no_address_is_suppressed(ctx, make_program, enroll):
    """A member without a phone gets no SMS: suppressed ``no_address``, no address kept."""
    program = make_program()
    m = enroll(program, phone=False)
    out = record(
        ctx,
        program,
        member_id=m,
        channel=Channel.SMS,
        topic="otp_code",
        variables={"code": "123456", "minutes": 10},
    )
    assert out["status"] == "suppressed"
    assert out["reason"] == "no_address"
    assert out["address_masked"] is None


def test_the_frequency_cap_counts_marketing_per_channel_in_its_window(
    ctx, clock, make_program, enroll
):
    """With at most 2 marketing e-mails in 7 days, the third of the week is ``capped``,
    transactional ones do not count, SMS has its own count, and 7 days later there is
    room again."""
    program = make_program()
    caps = {c: FrequencyCap(2, 7) for c in Channel}
    policy = NotificationPolicy(caps=caps, quiet_hours=NO_QUIET.quiet_hours)
    notif.set_policy(ctx, program, policy, "admin")
    m = enroll(program, consents=("marketing_email", "marketing_sms"))
    assert record(ctx, program, **winback(m))["status"] == "queued"
    record(
        ctx,
        program,
        member_id=m,
        topic="expiry_reminder",
        variables={"points": 1, "date": "x", "balance": 1},
    )
    clock.advance(timedelta(days=3))
    assert record(ctx, program, **winback(m))["status"] == "queued"
    assert record(ctx, program, **winback(m))["reason"] == "capped"
    assert record(ctx, program, **winback(m, channel=Channel.SMS))["status"] == "queued"
    clock.advance(timedelta(days=4, seconds=1))
    assert record(ctx, program, **winback(m))["status"] == "queued"


def test_quiet_hours_hold_a_message_until_they_end_in_the_programs_zone(
    ctx, clock, make_program, enroll
):
    """Quiet 21:00-09:00 in Moscow (UTC+3): a reminder recorded at 22:30 Moscow time waits
    until 09:00 the next morning; a one-time code (urgent) does not wait."""
    program = make_program(timezone="Europe/Moscow")
    m = enroll(program)
    clock.set(datetime(2026, 3, 14, 19, 30, tzinfo=UTC))  # 22:30 in Moscow
    out = record(
        ctx,
        program,
        member_id=m,
        topic="expiry_reminder",
        variables={"points": 1, "date": "x", "balance": 1},
    )
    assert datetime.fromisoformat(out["send_after"]) == datetime(2026, 3, 15, 6, 0, tzinfo=UTC)
    code = record(
        ctx, program, member_id=m, topic="otp_code", variables={"code": "111222", "minutes": 5}
    )
    assert datetime.fromisoformat(code["send_after"]) == clock.now()


def test_a_dedupe_key_records_once(ctx, make_program, enroll):
    """A second message with the same dedupe key answers the first one, recording none."""
    program = make_program()
    m = enroll(program)
    variables = {"points": 1, "date": "x", "balance": 1}
    first = record(
        ctx,
        program,
        member_id=m,
        topic="expiry_reminder",
        variables=variables,
        dedupe_key="expiry:1:30",
    )
    again = record(
        ctx,
        program,
        member_id=m,
        topic="expiry_reminder",
        variables=variables,
        dedupe_key="expiry:1:30",
    )
    assert again["id"] == first["id"]
    assert again["duplicate"]
    assert not first["duplicate"]
    assert len(notif.member_messages(ctx, program, m)) == 1


def test_wrong_topic_or_variables_are_refused_and_nothing_recorded(ctx, make_program, enroll):
    """An unknown topic, a missing or an unknown variable: ValidationError, no message."""
    program = make_program()
    m = enroll(program)
    for fields in (
        {"topic": "nope", "variables": {}},
        {"topic": "otp_code", "variables": {"code": "1"}},
        {"topic": "otp_code", "variables": {"code": "1", "minutes": 1, "extra": 2}},
    ):
        with pytest.raises(ValidationError):
            record(ctx, program, member_id=m, **fields)
    assert notif.member_messages(ctx, program, m) == []


def test_deliver_now_sends_a_code_and_erases_it_from_the_log(ctx, make_program, enroll, keeper):
    """A one-time code to an address with no member yet is sent at once, rendered in the
    asked language with the code in both parts; the log keeps the message as sent with
    the code erased; sending it again skips it."""
    program = make_program()
    out = record(
        ctx,
        program,
        to_address="new.person@example.org",
        topic="otp_code",
        variables={"code": "654321", "minutes": 10},
        locale="en",
    )
    (done,) = deliver(ctx, program, [out["id"]], senders=keeper.pick)
    assert done == {"id": out["id"], "status": "sent", "error": None}
    (sent,) = keeper.sent
    assert sent.address == "new.person@example.org"
    assert sent.language == "en"
    assert "654321" in sent.content.text
    assert "654321" in sent.content.html
    assert sent.unsubscribe_url is None
    with ctx.uow(read_only=True) as uow:
        from kopilka.store.repos.messages import MessageRepo

        row = MessageRepo(uow.conn).get(program.id, out["id"])
    assert row is not None
    assert row.status == "sent"
    assert row.variables["code"] == "***"
    assert row.subject == f"Your {program.name} code"
    assert deliver_now(ctx, program, [out["id"]])[0]["status"] == "skipped"


def test_a_failed_sending_is_retried_then_failed_for_good(ctx, clock, make_program, enroll, keeper):
    """A channel error leaves the message queued for a later retry (not due at once);
    after the last attempt it is ``failed`` with the channel's error."""
    from kopilka.services.notifications import SendFailed

    program = make_program()
    notif.set_policy(ctx, program, NO_QUIET, "admin")
    m = enroll(program)
    out = record(
        ctx,
        program,
        member_id=m,
        topic="expiry_reminder",
        variables={"points": 1, "date": "x", "balance": 1},
    )
    keeper.fail = SendFailed("smtp: SMTPServerDisconnected")
    assert deliver(ctx, program, senders=keeper.pick)[0]["status"] == "queued"
    assert deliver(ctx, program, senders=keeper.pick) == []  # not due yet
    for _ in range(10):
        clock.advance(timedelta(hours=2))
        deliver(ctx, program, senders=keeper.pick)
    (view,) = notif.member_messages(ctx, program, m)
    assert view["status"] == "failed"
    assert view["attempts"] == ctx.messaging.max_attempts
    assert view["error"] == "smtp: SMTPServerDisconnected"
    assert out["id"] == view["id"]


def test_marketing_carries_a_signed_unsubscribe_link_that_withdraws_consent(
    ctx, make_program, enroll, keeper
):
    """A marketing e-mail carries the unsubscribe link in its parts; following it records
    a "no" to marketing_email (audited) without sign-in, and the next marketing e-mail is
    suppressed ``unsubscribed``; a tampered token is refused."""
    program = make_program()
    notif.set_policy(ctx, program, NO_QUIET, "admin")
    m = enroll(program, consents=("marketing_email",))
    record(ctx, program, **winback(m))
    (done,) = deliver(ctx, program, senders=keeper.pick)
    assert done["status"] == "sent"
    link = keeper.sent[0].unsubscribe_url
    assert link is not None
    assert link in keeper.sent[0].content.text
    token = link.rsplit("/", 1)[1]
    with pytest.raises(ValidationError):
        notif.unsubscribe(ctx, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert notif.unsubscribe(ctx, token) == {
        "program_id": program.id,
        "purpose": "marketing_email",
        "already": False,
    }
    assert notif.unsubscribe(ctx, token)["already"] is True
    latest = {c.purpose: c for c in member_svc.current_consents(ctx, program, m)}
    assert latest["marketing_email"].granted is False
    assert latest["marketing_email"].channel == "unsubscribe"
    assert record(ctx, program, **winback(m))["reason"] == "unsubscribed"


def test_the_messages_job_sends_what_is_due_after_quiet_hours(ctx, clock, make_program, enroll):
    """A reminder recorded during quiet hours is left alone by a worker round at night and
    sent (by the log adapter) by the first round after they end; the run counts it."""
    from kopilka.services import worker as worker_svc

    program = make_program(timezone="Europe/Moscow")
    m = enroll(program)
    clock.set(datetime(2026, 3, 14, 19, 30, tzinfo=UTC))  # 22:30 in Moscow
    record(
        ctx,
        program,
        member_id=m,
        topic="expiry_reminder",
        variables={"points": 1, "date": "x", "balance": 1},
    )
    options = worker_svc.WorkerOptions(worker_id="w", once=True, program_ids=(program.id,))
    worker_svc.Worker(ctx, options).round()
    assert notif.member_messages(ctx, program, m)[0]["status"] == "queued"
    clock.set(datetime(2026, 3, 15, 6, 1, tzinfo=UTC))  # 09:01 in Moscow
    worker_svc.Worker(ctx, options).round()
    (view,) = notif.member_messages(ctx, program, m)
    assert view["status"] == "sent"
    runs = [r for r in worker_svc.list_runs(ctx, program, 50) if r["job"] == "messages"]
    assert sum(r["counts"].get("sent", 0) for r in runs) == 1


def test_erasing_a_member_removes_addresses_and_stops_queued_messages(ctx, make_program, enroll):
    """After erasure the log keeps the messages without their addresses, and a message
    still queued is never sent (``no_address``)."""
    program = make_program()
    notif.set_policy(ctx, program, NO_QUIET, "admin")
    m = enroll(program)
    record(
        ctx,
        program,
        member_id=m,
        topic="expiry_reminder",
        variables={"points": 1, "date": "x", "balance": 1},
    )
    member_svc.erase(ctx, program, m)
    (view,) = notif.member_messages(ctx, program, m)
    assert view["status"] == "suppressed"
    assert view["reason"] == "no_address"
    assert view["address_masked"] is None
    assert deliver(ctx, program) == []


def test_a_leased_message_is_not_sent_by_another_sender(ctx, clock, make_program, keeper):
    """While one sender holds a message's lease, ``deliver_now`` and the job skip it; once
    the lease has expired (that sender died), another sends it, once."""
    from kopilka.store.repos.messages import MessageRepo

    program = make_program()
    out = record(
        ctx,
        program,
        to_address="+79160000001",
        topic="otp_code",
        variables={"code": "555777", "minutes": 5},
    )
    with ctx.uow() as uow:
        now = ctx.now()
        taken = MessageRepo(uow.conn).claim(
            program.id, "crashed-sender", now, now + timedelta(minutes=2), 10
        )
        uow.commit()
    assert [m.id for m in taken] == [out["id"]]
    assert deliver(ctx, program, [out["id"]], senders=keeper.pick)[0]["status"] == "skipped"
    assert deliver(ctx, program, senders=keeper.pick) == []
    clock.advance(timedelta(minutes=3))
    assert deliver(ctx, program, senders=keeper.pick)[0]["status"] == "sent"
    assert deliver(ctx, program, senders=keeper.pick) == []
    assert len(keeper.sent) == 1


def test_two_messages_recorded_at_once_are_counted_one_after_the_other(ctx, make_program, enroll):
    """With a cap of 1 marketing e-mail a week, a second message recorded while the first
    one's transaction is still open waits for it, then counts it and is ``capped``: the
    two are never both queued (on PostgreSQL the member's row is locked for the count;
    SQLite runs one writing transaction at a time)."""
    program = make_program()
    policy = NotificationPolicy(
        caps={c: FrequencyCap(1, 7) for c in Channel}, quiet_hours=NO_QUIET.quiet_hours
    )
    notif.set_policy(ctx, program, policy, "admin")
    m = enroll(program, consents=("marketing_email",))
    first_counted, release = threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}

    def first() -> None:
        with ctx.uow() as uow:
            out = notify(uow, program, Notify(program_id=program.id, **winback(m)), ctx.now())
            first_counted.set()
            release.wait(10)
            uow.commit()
        outcomes["first"] = out["status"]

    def second() -> None:
        outcomes["second"] = record(ctx, program, **winback(m))["reason"]

    a = threading.Thread(target=first)
    a.start()
    assert first_counted.wait(10)
    b = threading.Thread(target=second)
    b.start()
    b.join(0.5)
    assert b.is_alive(), "the second message was counted before the first one committed"
    release.set()
    a.join(10)
    b.join(10)
    assert outcomes == {"first": "queued", "second": "capped"}
