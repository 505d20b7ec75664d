"""The analyst's day in a real browser (Debian's Chromium through Playwright), in Russian and
English: sign in, read the overview's figures (the totals job's snapshot, equal to the
services' totals, with its as-of time), open the audit log and filter it by action and
by date, open the jobs page and the verify report the worker stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from kopilka.domain.clock import FrozenClock
from kopilka.services import back_office, ledger_reports
from kopilka.services import programs as program_svc
from kopilka.services import worker as worker_svc
from kopilka.services.apikeys import list_keys
from kopilka.services.back_office import SetBlocked
from kopilka.services.context import ServiceContext
from kopilka.services.points import Adjust
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade
from kopilka.web import i18n
from tests.conftest import START
from tests.e2e.web.test_browser import pytestmark, serving  # noqa: F401
from tests.e2e.web.world import World, build_world, make_app

# what each language's page says, for the steps that find things by their words
WORDS = {
    "en": {
        "key": "API key",
        "sign_in": "Sign in",
        "audit": "Audit log",
        "jobs": "Jobs",
        "verify": "Verify",
        "action": "Action",
        "show": "Show",
        "clear": "Clear filters",
        "adjusted": "points adjusted",
        "blocked": "member blocked",
        "as_of": "Figures as of",
        "checked": "Checked 1 minute ago",
        "holds": "Every invariant holds",
        "verify_job": "Ledger verification, report stored",
        "totals_job": "Overview totals snapshot",
        "kpis": ("Outstanding liability", "Members", "Issued", "Redeemed", "Expired"),
    },
    "ru": {
        "key": "API-ключ",
        "sign_in": "Войти",
        "audit": "Журнал действий",
        "jobs": "Задания",
        "verify": "Проверка",
        "action": "Действие",
        "show": "Показать",
        "clear": "Сбросить фильтры",
        "adjusted": "баллы скорректированы",
        "blocked": "участник заблокирован",
        "as_of": "Данные на",
        "checked": "Проверено 1 минуту назад",
        "holds": "Все инварианты выполняются",
        "verify_job": "Проверка учёта баллов с сохранением отчёта",
        "totals_job": "Снимок итогов для обзора",
        "kpis": ("Обязательства по баллам", "Участники", "Начислено", "Списано", "Сгорело"),
    },
}
KPI_KEYS = ("liability", "members", "issued", "redeemed", "expired")


def _actor(world: World, role: str) -> str:
    return next(k for k in list_keys(world.ctx, world.program.code) if k.role == role).actor


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    """A world with a support adjustment on its first day and an admin's block the next,
    the worker's verify and totals jobs run after them, served by uvicorn."""
    url = f"sqlite:///{tmp_path_factory.mktemp('analyst') / 'kopilka.db'}"
    upgrade(url)
    engine = make_engine(url)
    clock = FrozenClock(START)
    world = build_world(ServiceContext(engine, clock))
    back_office.adjust(
        world.ctx,
        world.program,
        Adjust(world.member_id, 7, key="an-a", reason="goodwill", actor=_actor(world, "support")),
    )
    clock.advance(timedelta(days=1))
    back_office.set_blocked(
        world.ctx,
        world.program,
        SetBlocked(world.member_id, True, "fraud", key="an-b", actor=_actor(world, "admin")),
        answer=lambda _inner: {"status": "blocked"},
    )
    options = worker_svc.WorkerOptions(
        worker_id="analyst-test", once=True, program_ids=(world.program.id,)
    )
    worker_svc.Worker(world.ctx, options).round()
    with serving(make_app(world.kopilka)) as base:
        yield base, world
    engine.dispose()


def _rows(page: Any) -> list[str]:
    return [" ".join(t.split()) for t in page.locator("main table tbody tr").all_inner_texts()]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_analyst_reads_the_figures_the_audit_log_the_jobs_and_the_verify_report(
    served: tuple[str, World],
    browser: Any,
    lang: str,
) -> None:
    """Each step asserts what the page shows: the overview's five figures are the
    services' totals (formatted for the language) with the snapshot's time; the audit log
    filtered by "points adjusted" shows only the support adjustment, and filtered from the
    second day only the admin's block; the jobs page lists the verify and totals runs; the
    verify report says every invariant holds, checked a minute ago."""
    from playwright.sync_api import expect

    base, world = served
    w = WORDS[lang]
    totals = program_svc.program_totals(world.ctx, world.program)
    snapshot = ledger_reports.overview_totals(world.ctx, world.program)
    assert snapshot["stored"]
    assert snapshot["totals"] == totals  # what the page shows is the recomputation
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "kopilka_lang", "value": lang, "url": base}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{base}/admin/sign-in")
        page.get_by_label(w["key"]).fill(world.keys["analyst"])
        page.get_by_role("button", name=w["sign_in"]).click()
        expect(page).to_have_url(f"{base}/admin")
        # the overview: each figure is the services' total, as the language writes it
        with i18n.using(lang):
            expected = {key: i18n.number(totals[key]) for key in KPI_KEYS}  # type: ignore[literal-required]
        for label, key in zip(w["kpis"], KPI_KEYS, strict=True):
            figure = page.locator("dl.kpis div").filter(
                has=page.locator("dt", has_text=re.compile(f"^{label}$"))
            )
            expect(figure.locator("dd")).to_contain_text(expected[key])
        expect(page.locator("#totals-asof")).to_contain_text(w["as_of"])
        expect(page.locator("#totals-asof")).to_contain_text(
            "15.03.2026" if lang == "ru" else "2026"
        )

        # the audit log, by action
        page.get_by_role("link", name=w["audit"], exact=True).click()
        page.get_by_label(w["action"]).select_option("points.adjust")
        page.get_by_role("button", name=w["show"]).click()
        expect(page).to_have_url(re.compile(r"action=points\.adjust"))
        rows = _rows(page)
        assert len(rows) == 1, rows
        assert w["adjusted"] in rows[0]
        assert w["blocked"] not in rows[0]
        # then by date: from the second day, only the block
        page.get_by_role("link", name=w["clear"]).click()
        page.locator("#audit-since").fill("2026-03-15")
        page.get_by_role("button", name=w["show"]).click()
        expect(page).to_have_url(re.compile(r"since=2026-03-15"))
        rows = _rows(page)
        assert len(rows) == 1, rows
        assert w["blocked"] in rows[0]

        # the jobs page: the worker's verify and totals runs
        page.get_by_role("link", name=w["jobs"], exact=True).click()
        jobs = page.locator("main").inner_text()
        assert w["verify_job"] in jobs
        assert w["totals_job"] in jobs

        # the verify report the job stored
        page.get_by_role("link", name=w["verify"], exact=True).click()
        expect(page.locator("#verify-asof")).to_contain_text(w["checked"])
        expect(page.get_by_role("status")).to_contain_text(w["holds"])
        assert page.locator("form[action='/admin/verify/check']").count() == 0
        assert page.locator("main table tbody tr.bad").count() == 0
    finally:
        context.close()
