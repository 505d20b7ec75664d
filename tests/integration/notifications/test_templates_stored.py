"""A program's own templates on both databases: stored after their check (audited with
before and after), refused with the problems and nothing written when broken, used when
a message is sent, and reset to the default."""

from __future__ import annotations

import pytest

from kopilka.services import audit_log
from kopilka.services import notifications as notif
from kopilka.services.notifications import (
    Notify,
    TemplateInvalid,
    TemplateSource,
    deliver,
    notify,
)


def test_a_saved_template_is_audited_and_used(ctx, make_program, enroll, keeper):
    """An admin's English otp_code template is stored, audited, read back as the program's,
    and the next code is sent with it; after a reset the default applies again."""
    program = make_program()
    mine = TemplateSource(
        "otp_code", "en", "{{ program_name }}: code", "<p>Use {{ code }}</p>", "Use {{ code }} now"
    )
    notif.save_template(ctx, program, mine, "admin@shop")
    got = notif.get_template(ctx, program, "otp_code", "en")
    assert got.custom
    assert got.text == "Use {{ code }} now"
    assert notif.get_template(ctx, program, "otp_code", "ru").custom is False
    with ctx.uow() as uow:
        out = notify(
            uow,
            program,
            Notify(
                program_id=program.id,
                to_address="x@example.org",
                topic="otp_code",
                variables={"code": "112233", "minutes": 3},
                locale="en",
            ),
            ctx.now(),
        )
        uow.commit()
    deliver(ctx, program, [out["id"]], senders=keeper.pick)
    assert keeper.sent[0].content.text == "Use 112233 now\n"
    assert keeper.sent[0].content.subject == f"{program.name}: code"
    notif.reset_template(ctx, program, "otp_code", "en", "admin@shop")
    assert notif.get_template(ctx, program, "otp_code", "en").custom is False
    actions = [e.action for e in audit_log.audit_page(ctx, program.id)["items"]]
    assert "notifications.template" in actions
    assert "notifications.template_reset" in actions


def test_a_broken_template_is_refused_with_its_line_and_not_stored(ctx, make_program):
    """An undefined variable on line 2 of the text is refused with part and line; the
    program keeps the default."""
    program = make_program()
    broken = TemplateSource(
        "expiry_reminder", "ru", "Баллы", "<p>{{ points }}</p>", "{{ points }}\n{{ pointz }}"
    )
    with pytest.raises(TemplateInvalid) as refused:
        notif.save_template(ctx, program, broken, "admin")
    assert refused.value.details["problems"] == [
        {"part": "text", "line": 2, "message": "'pointz' is undefined"}
    ]
    assert notif.get_template(ctx, program, "expiry_reminder", "ru").custom is False
