"""The console's notification pages and the portal's unsubscribe link: the member card
lists every message with status, channel, topic and the masked address; the template
editor previews, points errors to their part and line, saves (admin only) and resets;
the settings form is checked at the edge; an unsubscribe link withdraws the consent
without sign-in. In English and Russian."""

from __future__ import annotations

from kopilka.services import members as member_svc
from kopilka.services import notifications as notif
from kopilka.services.notifications import Notify, UnsubscribeToken, make_token, notify
from tests.e2e.web.world import hidden_fields, text_of

RU = {"Accept-Language": "ru"}


def _reminder(world) -> None:
    with world.ctx.uow() as uow:
        notify(
            uow,
            world.program,
            Notify(
                world.program.id,
                "expiry_reminder",
                {"points": 120, "date": "31.03.2026", "balance": 500},
                member_id=world.member_id,
            ),
            world.ctx.now(),
        )
        uow.commit()


def test_the_member_card_lists_messages_with_masked_addresses(world, as_role):
    """A reminder shows on the card with its topic, channel, status and the masked e-mail
    (never the full address), in English and in Russian."""
    _reminder(world)
    c = as_role("support")
    page = c.get(f"/admin/members/{world.member_id}")
    text = text_of(page.text)
    assert "Messages" in text
    assert "Points expire soon" in text
    assert "e-mail" in text
    assert "queued" in text
    assert "a***@example.com" in text
    ru = text_of(c.get(f"/admin/members/{world.member_id}", headers=RU).text)
    assert "Сообщения" in ru
    assert "Баллы скоро сгорят" in ru
    assert "в очереди" in ru


def test_the_editor_previews_and_points_errors_to_their_line(world, as_role):
    """The winback editor shows the default with a preview; a preview of a text with an
    undefined variable on line 2 is answered 422 with the part and the line, and nothing
    is stored."""
    c = as_role("admin")
    page = c.get("/admin/notifications/winback/en")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "We miss you at" in text
    assert "The default version shipped with Kopilka." in text
    fields = hidden_fields(page.text, "/admin/notifications/winback/en")
    form = {
        **fields,
        "action": "preview",
        "subject": "Hi",
        "html": "<p>{{ days }} {{ unsubscribe_url }}</p>",
        "text": "{{ days }}\n{{ dayz }} {{ unsubscribe_url }}",
    }
    answer = c.post("/admin/notifications/winback/en", data=form)
    assert answer.status_code == 422
    assert "Plain text, line 2 : 'dayz' is undefined" in text_of(answer.text).replace("&#39;", "'")
    ru = c.post("/admin/notifications/winback/en", data=form, headers=RU)
    assert "Обычный текст, строка 2" in text_of(ru.text)
    assert notif.get_template(world.ctx, world.program, "winback", "en").custom is False


def test_an_admin_saves_and_resets_a_template_a_marketer_may_not(world, as_role):
    """The admin's save stores the program's version (the next preview shows it); the
    marketer sees the page without the save button and a save is refused (403)."""
    admin = as_role("admin")
    page = admin.get("/admin/notifications/otp_code/ru")
    fields = hidden_fields(page.text, "/admin/notifications/otp_code/ru")
    mine = {"subject": "Код", "html": "<p>Код {{ code }}</p>", "text": "Код {{ code }}"}
    saved = admin.post(
        "/admin/notifications/otp_code/ru", data={**fields, "action": "save", **mine}
    )
    assert saved.status_code == 303
    again = text_of(admin.get("/admin/notifications/otp_code/ru?done=saved").text)
    assert "This program's own version." in again
    assert "Код 482913" in again
    marketer = as_role("marketer")
    seen = marketer.get("/admin/notifications/otp_code/ru")
    assert 'value="save"' not in seen.text
    fields = hidden_fields(seen.text, "/admin/notifications/otp_code/ru")
    refused = marketer.post(
        "/admin/notifications/otp_code/ru", data={**fields, "action": "save", **mine}
    )
    assert refused.status_code == 403
    fields = hidden_fields(
        admin.get("/admin/notifications/otp_code/ru").text, "/admin/notifications/otp_code/ru"
    )
    reset = admin.post("/admin/notifications/otp_code/ru", data={**fields, "action": "reset"})
    assert reset.status_code == 303
    assert notif.get_template(world.ctx, world.program, "otp_code", "ru").custom is False


def test_settings_are_checked_and_saved(world, as_role):
    """A quiet hour of 25:00 is refused with nothing stored; valid caps and hours are
    saved and shown again."""
    c = as_role("admin")
    page = c.get("/admin/notifications")
    assert page.status_code == 200
    fields = hidden_fields(page.text, "/admin/notifications/settings")
    form = {
        **fields,
        "cap_email_count": "3",
        "cap_email_days": "10",
        "quiet_start": "25:00",
        "quiet_end": "08:00",
        "default_language": "en",
    }
    bad = c.post("/admin/notifications/settings", data=form)
    assert bad.status_code == 422
    assert "is not a time of day" in text_of(bad.text)
    assert notif.get_policy(world.ctx, world.program).quiet_hours.start.hour == 21
    good = c.post("/admin/notifications/settings", data={**form, "quiet_start": "22:00"})
    assert good.status_code == 303
    policy = notif.get_policy(world.ctx, world.program)
    assert policy.quiet_hours.start.hour == 22
    assert policy.cap("email").count == 3
    assert policy.default_language == "en"


def test_an_unsubscribe_link_withdraws_without_sign_in(world, anon):
    """The link's page asks first (a GET changes nothing); its button records the "no" to
    marketing e-mail; a forged token is a 404 page."""
    token = make_token(
        world.ctx.messaging.secret,
        UnsubscribeToken(world.program.id, world.member_id, "marketing_email"),
    )
    page = anon.get(f"/portal/unsubscribe/{token}", headers=RU)
    assert page.status_code == 200
    assert "Отписаться" in text_of(page.text)
    latest = {
        c.purpose: c for c in member_svc.current_consents(world.ctx, world.program, world.member_id)
    }
    assert latest["marketing_email"].granted
    done = anon.post(f"/portal/unsubscribe/{token}")
    assert done.status_code == 200
    assert "You are unsubscribed" in text_of(done.text)
    latest = {
        c.purpose: c for c in member_svc.current_consents(world.ctx, world.program, world.member_id)
    }
    assert not latest["marketing_email"].granted
    assert anon.get(f"/portal/unsubscribe/{token[:-3]}xyz").status_code == 404
