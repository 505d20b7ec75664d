"""The console's reminder settings page, /admin/notifications/reminders: the form shows
each reminder's switch and days with links to its templates, a save is stored through the
service and audited, a refused value is shown next to its field in the page's language
with nothing stored, and a role without notifications:edit may read but not save. On
SQLite and PostgreSQL (the ``world`` fixture runs on both)."""

from __future__ import annotations

from sqlalchemy import select

from kopilka.domain.reminders import ReminderSettings
from kopilka.services.reminders import reminder_settings
from kopilka.store.tables import audit_log
from tests.e2e.web.world import hidden_fields, text_of

URL = "/admin/notifications/reminders"
RU = {"Accept-Language": "ru"}


def _audited(world) -> list[tuple[str, str, dict]]:
    with world.ctx.uow(read_only=True) as uow:
        rows = uow.conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.after).where(
                audit_log.c.program_id == world.program.id,
                audit_log.c.action == "reminders.settings",
            )
        ).all()
    return [(r.actor, r.action, r.after) for r in rows]


def test_the_form_round_trips_and_is_audited(world, as_role):
    """The admin sees every reminder off with the defaults (30, 7, 1; 60; 14) and links to
    each template; saving switches and new days stores exactly them, audited as the
    console actor, and the page shows them back with a confirmation."""
    c = as_role("admin")
    overview = c.get("/admin/notifications")
    assert f'href="{URL}"' in overview.text
    page = c.get(URL)
    assert page.status_code == 200
    assert 'value="30, 7, 1"' in page.text
    assert 'value="60"' in page.text
    for topic in ("expiry_reminder", "winback", "birthday_greeting", "tier_drop"):
        for lang in ("ru", "en"):
            assert f'href="/admin/notifications/{topic}/{lang}"' in page.text
    form = {
        **hidden_fields(page.text, URL),
        "expiry": "on",
        "expiry_days": " 7, 30 ,1,14",
        "win_back": "on",
        "win_back_days": "90",
        "birthday": "on",
        "tier_drop_days": "10",
    }
    saved = c.post(URL, data=form)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{URL}?done=saved"
    assert reminder_settings(world.ctx, world.program) == ReminderSettings(
        expiry=True,
        expiry_days=(30, 14, 7, 1),
        win_back=True,
        win_back_days=90,
        birthday=True,
        tier_drop=False,
        tier_drop_days=10,
    )
    [(actor, _, after)] = _audited(world)
    assert actor.startswith("apikey:")
    assert actor.endswith(":admin desk")
    assert after["expiry"] == {"enabled": True, "days_before": [30, 14, 7, 1]}
    shown = c.get(f"{URL}?done=saved")
    assert "The reminder settings are saved." in text_of(shown.text)
    assert 'value="30, 14, 7, 1"' in shown.text
    assert 'value="90"' in shown.text
    ru = c.get(f"{URL}?done=saved", headers=RU)
    assert "Настройки напоминаний сохранены." in text_of(ru.text)


def test_a_refused_value_is_shown_at_its_field_and_nothing_is_stored(world, as_role):
    """A day given twice, and 0 win-back days, are refused (422) next to their field in
    English and in Russian, the form keeps what was typed, and nothing is stored or audited."""
    c = as_role("admin")
    fields = hidden_fields(c.get(URL).text, URL)
    twice = {**fields, "expiry": "on", "expiry_days": "7, 7", "win_back_days": "60"}
    answer = c.post(URL, data=twice)
    assert answer.status_code == 422
    assert 'id="expiry_days-error"' in answer.text
    assert "a day before expiry is given twice" in text_of(answer.text)
    assert 'value="7, 7"' in answer.text
    zero = {**fields, "expiry_days": "30", "win_back": "on", "win_back_days": "0"}
    ru = c.post(URL, data=zero, headers=RU)
    assert ru.status_code == 422
    assert 'id="win_back_days-error"' in ru.text
    text = text_of(ru.text)
    assert "Дней без покупки: от 1 до 3650 дней" in text
    assert "Ничего не сохранено." in text
    assert reminder_settings(world.ctx, world.program) == ReminderSettings()
    assert _audited(world) == []


def test_a_marketer_reads_but_may_not_save(world, as_role):
    """The marketer (program:read, no notifications:edit) sees the settings without a save
    button, and a save is refused with 403 leaving the settings as they were."""
    c = as_role("marketer")
    page = c.get(URL)
    assert page.status_code == 200
    assert "Save the reminders" not in page.text
    assert "does not change these settings" in text_of(page.text)
    form = {**hidden_fields(page.text, URL), "expiry": "on", "expiry_days": "5"}
    refused = c.post(URL, data=form)
    assert refused.status_code == 403
    assert reminder_settings(world.ctx, world.program) == ReminderSettings()
    assert _audited(world) == []
