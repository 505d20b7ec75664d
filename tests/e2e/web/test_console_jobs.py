"""The console's jobs page (/admin/jobs): admin and analyst see the program's schedules
and the worker's latest runs, linked from the navigation, in English and Russian; other
roles see neither the link nor the page."""

from __future__ import annotations

from kopilka.services import worker as worker_svc
from tests.e2e.web.world import text_of

RU = {"Accept-Language": "ru"}


def _ran(world) -> None:
    """One round of the worker for the world's program."""
    options = worker_svc.WorkerOptions(
        worker_id="test-worker", once=True, program_ids=(world.program.id,)
    )
    worker_svc.Worker(world.ctx, options).round()


def test_admin_and_analyst_see_the_runs_and_the_link(world, as_role):
    """Both read the page, with the schedules (cron) and the runs the worker recorded."""
    _ran(world)
    for role in ("admin", "analyst"):
        c = as_role(role)
        assert 'href="/admin/jobs"' in c.get("/admin").text, role
        page = c.get("/admin/jobs")
        assert page.status_code == 200, role
        text = text_of(page.text)
        assert "Sweep: hold timeouts, activations, expiries" in text
        assert "*/5 * * * *" in text
        assert "done" in text
        assert "members credited: 0" in text


def test_every_kind_and_count_shows_its_words(world, as_role):
    """The newer kinds (outbox, verify, totals, tiers) show their words, not their codes,
    and a count name two kinds share ("failed") reads as each kind's own."""
    _ran(world)
    text = text_of(as_role("admin").get("/admin/jobs").text)
    for words in (
        "Event delivery to webhooks and NATS",
        "Ledger verification, report stored",
        "Overview totals snapshot",
        "Tier review",
        "members reviewed: ",
        "events dispatched: ",
        "deliveries failed: 0",
        "checks failed: 0",
    ):
        assert words in text, words
    for code in ("dispatched:", "reviewed:", "entered_grace", "holds_timed_out"):
        assert code not in text.replace("events dispatched:", "").replace(
            "members reviewed:", ""
        ), code


def test_other_roles_are_refused(as_role):
    """Support and a marketer have no jobs:read: no link, and the page is a 403."""
    for role in ("support", "marketer"):
        c = as_role(role)
        assert 'href="/admin/jobs"' not in c.get("/admin/members").text, role
        assert c.get("/admin/jobs").status_code == 403, role


def test_jobs_page_in_russian(world, as_role):
    """On a Russian page the headings, the job kinds, outcomes and counts are Russian."""
    _ran(world)
    text = text_of(as_role("admin").get("/admin/jobs", headers=RU).text)
    assert "Задания" in text
    assert "Обход: истёкшие резервы, активация, сгорание баллов" in text
    assert "выполнен" in text
    assert "участникам начислено: 0" in text
    assert "Пересмотр уровней" in text
    assert "участников проверено: " in text
    assert "Доставка событий в вебхуки и NATS" in text
    assert "Latest runs" not in text
