"""The purchase-cost benchmark runs (--quick, SQLite); nothing here measures time."""

from __future__ import annotations

import sqlite3

import pytest
from bench import asgi_driver, bench_purchase_cost, machine

# the benchmarks' data files (members, purchases) go to bench/.work by name, so these
# modules share one worker; their databases and quick results go to each test's own
# directory (bench_work)
pytestmark = [pytest.mark.xdist_group("bench-work"), pytest.mark.usefixtures("bench_work")]


def test_purchase_cost_benchmark_runs_in_quick_mode() -> None:
    """--quick books a few rounds of purchases and returns through the service on one
    connection; every round counts its requests and the ledger verifies afterwards."""
    results = bench_purchase_cost.main(["--quick", "--backends", "sqlite"])
    run = results["runs"]["sqlite"]
    assert run["verify"]["ok"] is True
    assert len(run["rounds"]) == 2
    assert all(r["requests"] >= 20 for r in run["rounds"])
    assert run["python_ms_per_request"] > 0
    assert "postgres_backend_ms_per_request" not in run


def test_purchase_cost_with_a_quote_before_each_purchase_runs_in_quick_mode() -> None:
    """--quotes quotes each purchase first, as a till does (counted with the purchase);
    a quote writes nothing, so the ledger verifies as without it."""
    results = bench_purchase_cost.main(["--quick", "--backends", "sqlite", "--quotes"])
    run = results["runs"]["sqlite"]
    assert run["verify"]["ok"] is True
    assert all(r["requests"] >= 20 for r in run["rounds"])


def test_purchase_cost_through_the_asgi_app_runs_in_quick_mode() -> None:
    """--via asgi sends the same purchases and returns as HTTP requests into the API
    application (every answer must be 201, else the run fails); the ledger verifies."""
    results = bench_purchase_cost.main(["--quick", "--backends", "sqlite", "--via", "asgi"])
    assert results["settings"]["name"] == "purchase_cost_asgi"
    run = results["runs"]["sqlite"]
    assert run["verify"]["ok"] is True
    assert all(r["requests"] >= 20 for r in run["rounds"])
    assert run["python_ms_per_request"] > 0


def test_another_writer_writes_after_each_purchase() -> None:
    """--other-writer writes a row from a second connection after every purchase (as a
    second worker would), in a results file of its own; the ledger still verifies."""
    results = bench_purchase_cost.main(["--quick", "--backends", "sqlite", "--other-writer"])
    assert results["settings"]["name"] == "purchase_cost_other_writer"
    run = results["runs"]["sqlite"]
    assert run["verify"]["ok"] is True
    db = sqlite3.connect(machine.WORK / "cost-service-50.db")
    try:
        (writes,) = db.execute("SELECT COUNT(*) FROM bench_other_writer").fetchone()
        (purchases,) = db.execute("SELECT COUNT(*) FROM purchases").fetchone()
    finally:
        db.close()
    assert writes == purchases > 0


def test_without_outbox_books_the_purchases_and_writes_no_event_for_them() -> None:
    """--without-outbox books the same rounds with the outbox's writer switched off: the
    ledger verifies, the purchases are there and none of them wrote an event (the set-up's
    import of the members, before the rounds, did)."""
    results = bench_purchase_cost.main(["--quick", "--backends", "sqlite", "--without-outbox"])
    assert results["runs"]["sqlite"]["verify"]["ok"] is True
    db = sqlite3.connect(machine.WORK / "cost-service-50.db")
    try:
        (purchases,) = db.execute("SELECT COUNT(*) FROM purchases").fetchone()
        types = dict(db.execute("SELECT type, COUNT(*) FROM outbox_events GROUP BY type"))
    finally:
        db.close()
    assert purchases > 0
    assert "purchase.committed" not in types
    assert types == {"import.finished": 1}
    # and back on once the rounds are over
    assert bench_purchase_cost.OutboxRepo.add.__name__ == "add"


def test_outbox_ab_books_rounds_with_and_without_the_outbox_in_turn() -> None:
    """--outbox-ab books each repeat twice, with the outbox and then without it: both
    sides' rounds are reported, each pair's difference is worked out, and the ledger
    verifies."""
    results = bench_purchase_cost.main(["--quick", "--backends", "sqlite", "--outbox-ab"])
    run = results["runs"]["sqlite"]
    assert run["verify"]["ok"] is True
    ab = run["outbox_ab"]
    assert len(ab["added_percent_by_pair"]) == len(ab["rounds_without"]) == 2
    assert all(r["outbox"] for r in run["rounds"])
    assert not any(r["outbox"] for r in ab["rounds_without"])
    assert ab["with"]["python_ms"] > 0
    assert ab["without"]["python_ms"] > 0


def test_tiers_ab_books_rounds_under_rules_with_and_without_tiers_in_turn() -> None:
    """--tiers-ab publishes the rules with their tiers and without them before each round,
    in turn: both sides are reported pair by pair, the rounds with tiers wrote tier
    changes, the rules' versions alternate, and the ledger verifies."""
    results = bench_purchase_cost.main(["--quick", "--backends", "sqlite", "--tiers-ab"])
    run = results["runs"]["sqlite"]
    assert run["verify"]["ok"] is True
    ab = run["tiers_ab"]
    assert len(ab["added_percent_by_pair"]) == len(ab["rounds_without"]) == 2
    assert all(r["tiers"] and r["outbox"] for r in run["rounds"])
    assert not any(r["tiers"] for r in ab["rounds_without"])
    db = sqlite3.connect(machine.WORK / "cost-service-50.db")
    try:
        documents = [d for (d,) in db.execute("SELECT document FROM rule_sets ORDER BY version")]
        (changes,) = db.execute("SELECT COUNT(*) FROM tier_changes").fetchone()
    finally:
        db.close()
    # after the set-up's version: with tiers, then without, twice
    assert ["\ntiers:" in d for d in documents[-4:]] == [True, False, True, False]
    assert changes > 0


@pytest.mark.parametrize("extra", [["--via", "asgi"], ["--backends", "postgres"]])
def test_another_writer_is_for_the_sqlite_service_path_only(extra: list[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        bench_purchase_cost.main(["--quick", "--other-writer", *extra])
    assert refused.value.code == 2


def test_the_asgi_driver_turns_request_bytes_into_a_scope() -> None:
    head = (
        b"POST /v1/purchases?dry=1 HTTP/1.1\r\nHost: h:1\r\nAuthorization: Bearer k\r\n"
        b"Content-Length: 2\r\n\r\n"
    )
    scope = asgi_driver.scope_of(head)
    assert (scope["method"], scope["path"], scope["query_string"]) == (
        "POST",
        "/v1/purchases",
        b"dry=1",
    )
    assert scope["headers"] == [
        (b"host", b"h:1"),
        (b"authorization", b"Bearer k"),
        (b"content-length", b"2"),
    ]


def test_without_tiers_strips_the_tiers_section_and_the_rule_reading_it() -> None:
    """--without-tiers publishes the grocery example less its ``tiers:`` section and its
    tier multiplier (issue 22's "tiers off"); the rest of the document is unchanged and
    still valid."""
    from kopilka.domain.rules.tiers_section import tier_policy
    from kopilka.services.rules import parse_document

    document = bench_purchase_cost.RULES.read_text()
    stripped = bench_purchase_cost.without_tiers(document)
    assert tier_policy(document, "yaml") is not None
    assert tier_policy(stripped, "yaml") is None
    full = {r.id for r in parse_document(document, "yaml", 1).rules}
    assert {r.id for r in parse_document(stripped, "yaml", 1).rules} == full - {"gold-tier"}
