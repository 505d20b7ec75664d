"""The console's verify page and overview read stored reports: /admin/verify shows the
latest report the ``verify`` job stored, with when it was checked; an admin's "Check now"
(a POST with the form token, confirmed when the last check was heavy) stores a new one;
other roles cannot; the overview shows the ``totals`` job's snapshot with its as-of time.
In English and Russian."""

from __future__ import annotations

from datetime import timedelta

from kopilka.services import ledger_reports
from kopilka.services import points as points_svc
from kopilka.services import programs as program_svc
from kopilka.services import worker as worker_svc
from kopilka.store.repos.reports import ReportRepo
from kopilka.web.console import HEAVY_CHECK_MS
from tests.e2e.web.world import World, hidden_fields, text_of

RU = {"Accept-Language": "ru"}


def store_heavy_report(world: World) -> None:
    """A copy of the latest stored report that took longer than HEAVY_CHECK_MS (a large
    program's), so "Check now" asks to be confirmed."""
    report = ledger_reports.latest_verify_report(world.ctx, world.program)
    assert report is not None
    with world.ctx.uow() as uow:
        ReportRepo(uow.conn).add_verify_report(
            world.program.id,
            started_at=world.ctx.now(),
            checked_at=world.ctx.now(),
            last_entry_id=report["last_entry_id"],
            ok=report["ok"],
            checks=[dict(c) for c in report["checks"]],
            totals=report["totals"],
            ran_by="job",
            duration_ms=HEAVY_CHECK_MS + 500,
        )
        uow.commit()


def _run(world: World, job: str) -> None:
    options = worker_svc.WorkerOptions(
        worker_id="test-worker", once=True, program_ids=(world.program.id,), jobs=(job,)
    )
    assert worker_svc.Worker(world.ctx, options).round() == 1


def test_the_page_shows_the_stored_report_and_when_it_was_checked(world, as_role):
    """Before any check the page says so; after the verify job ran it shows the report,
    checked "12 minutes ago" when 12 minutes have passed, as of the newest entry, by the
    scheduled job, in both languages."""
    c = as_role("analyst")
    assert "has not been checked yet" in text_of(c.get("/admin/verify").text)
    _run(world, "verify")
    world.ctx.clock.advance(timedelta(minutes=12))
    report = ledger_reports.latest_verify_report(world.ctx, world.program)
    assert report is not None
    text = text_of(c.get("/admin/verify").text)
    assert "Checked 12 minutes ago" in text
    assert f"as of journal entry {report['last_entry_id']}" in text
    assert "by the scheduled job" in text
    assert "Every invariant holds" in text
    ru = text_of(c.get("/admin/verify", headers=RU).text)
    assert "Проверено 12 минут назад" in ru
    assert "задание по расписанию" in ru
    assert "Checked" not in ru


def test_the_page_shows_a_failed_report(world, as_role):
    """A stored report with a failed check shows the alert and the check as FAILED."""
    report = ledger_reports.check_ledger(world.ctx, world.program, "job")
    failed = {**report["checks"][0], "ok": False, "violations": 2, "samples": ["7, 3"]}
    with world.ctx.uow() as uow:
        ReportRepo(uow.conn).add_verify_report(
            world.program.id,
            started_at=world.ctx.now(),
            checked_at=world.ctx.now(),
            last_entry_id=report["last_entry_id"],
            ok=False,
            checks=[dict(failed), *[dict(c) for c in report["checks"][1:]]],
            totals=report["totals"],
            ran_by="job",
            duration_ms=10,
        )
        uow.commit()
    text = text_of(as_role("admin").get("/admin/verify").text)
    assert "Some invariants are broken" in text
    assert f"{failed['name']}" in text
    assert "FAILED 2 7, 3" in text


def test_an_admin_checks_now_and_the_new_report_is_stored(world, as_role):
    """The admin's "Check now" runs the verification, stores a report naming the admin,
    and lands on the page saying it was checked just now."""
    c = as_role("admin")
    page = c.get("/admin/verify")
    assert 'action="/admin/verify/check"' in page.text
    form = hidden_fields(page.text, "/admin/verify/check")
    points_svc.earn(world.ctx, world.program, points_svc.Earn(world.member_id, 7, key="verify-now"))
    r = c.post("/admin/verify/check", data=form)
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/verify?done=checked"
    report = ledger_reports.latest_verify_report(world.ctx, world.program)
    assert report is not None
    assert report["ok"]
    assert report["ran_by"].startswith("apikey:")
    assert (
        report["totals"]["liability"]
        == program_svc.program_totals(world.ctx, world.program)["liability"]
    )
    text = text_of(c.get(r.headers["location"]).text)
    assert "The ledger was checked just now." in text
    assert "Checked 1 minute ago" in text
    ru = text_of(c.get(r.headers["location"], headers=RU).text)
    assert "Учёт баллов только что проверен." in ru


def test_a_heavy_check_is_confirmed_first(world, as_role):
    """When the last check took seconds, "Check now" first asks (saying how long it took)
    and stores nothing; the confirmed form runs it."""
    ledger_reports.check_ledger(world.ctx, world.program, "job")
    store_heavy_report(world)
    c = as_role("admin")
    page = c.get("/admin/verify")
    assert "The last check took 2.5 s." in text_of(page.text)
    before = ledger_reports.latest_verify_report(world.ctx, world.program)
    asked = c.post("/admin/verify/check", data=hidden_fields(page.text, "/admin/verify/check"))
    assert asked.status_code == 200
    assert "Check the ledger now?" in text_of(asked.text)
    assert ledger_reports.latest_verify_report(world.ctx, world.program) == before
    confirm = hidden_fields(asked.text, "/admin/verify/check")
    assert confirm["confirmed"] == "yes"
    done = c.post("/admin/verify/check", data=confirm)
    assert done.status_code == 303
    after = ledger_reports.latest_verify_report(world.ctx, world.program)
    assert after is not None
    assert before is not None
    assert after["id"] > before["id"]
    ru = c.post(
        "/admin/verify/check",
        data=hidden_fields(page.text, "/admin/verify/check"),
        headers=RU,
    )
    # the new report was fast: no confirmation any more
    assert ru.status_code == 303


def test_other_roles_cannot_check_and_a_form_without_its_token_is_refused(world, as_role):
    """A marketer or support gets 403 on the page and on "Check now"; an analyst reads the
    page without the button and gets 403 on the POST; an admin's POST without the form
    token is refused; nothing is stored."""
    ledger_reports.check_ledger(world.ctx, world.program, "job")
    before = ledger_reports.latest_verify_report(world.ctx, world.program)
    admin_form = hidden_fields(as_role("admin").get("/admin/verify").text, "/admin/verify/check")
    for role in ("marketer", "support"):
        c = as_role(role)
        assert c.get("/admin/verify").status_code == 403, role
        form = hidden_fields(c.get("/admin/members").text, "/admin/sign-out")
        assert c.post("/admin/verify/check", data=form).status_code == 403, role
    analyst = as_role("analyst")
    page = analyst.get("/admin/verify")
    assert page.status_code == 200
    assert 'action="/admin/verify/check"' not in page.text
    form = hidden_fields(page.text, "/admin/sign-out")
    assert analyst.post("/admin/verify/check", data=form).status_code == 403
    assert as_role("admin").post("/admin/verify/check", data={}).status_code in (400, 403)
    assert admin_form["csrf_token"]
    assert ledger_reports.latest_verify_report(world.ctx, world.program) == before


def test_the_overview_shows_the_snapshot_and_its_time(world, as_role):
    """Before the totals job ran the overview computes its figures and says so; after a
    run it shows the snapshot's figures (equal to a recomputation) as of the run's time,
    and keeps them until the next run."""
    c = as_role("analyst")
    assert "computed for this page" in text_of(c.get("/admin").text)
    _run(world, "totals")
    totals = program_svc.program_totals(world.ctx, world.program)
    text = text_of(c.get("/admin").text)
    assert "the totals job recomputes them every minute" in text
    assert f"Issued {totals['issued']}" in text
    assert f"Members {totals['members']}" in text
    points_svc.earn(
        world.ctx, world.program, points_svc.Earn(world.member_id, 11, key="overview-later")
    )
    assert f"Issued {totals['issued']} " in text_of(c.get("/admin").text)
    world.ctx.clock.advance(timedelta(minutes=1))
    _run(world, "totals")
    assert f"Issued {totals['issued'] + 11} " in text_of(c.get("/admin").text)
    ru = text_of(c.get("/admin", headers=RU).text)
    assert "Данные на" in ru
    assert "Figures as of" not in ru
