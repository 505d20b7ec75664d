"""The result types of the point-movement, history, audit and sweep services are the
formats they always were: the outcome stored under an idempotency key (replayed as it is
for keys stored before) and the API's response models, key for key."""

from __future__ import annotations

from typing import get_type_hints

import pytest

from kopilka.api.schemas.admin import AuditPage as AuditPagePublic
from kopilka.api.schemas.admin import JobResult
from kopilka.api.schemas.points import Balances as BalancesPublic
from kopilka.api.schemas.points import HistoryItem as HistoryItemPublic
from kopilka.api.schemas.points import HistoryPage, LedgerResult
from kopilka.ledger.model import Result
from kopilka.services.audit import Entry, History, HistoryItem, explain
from kopilka.services.audit_log import AuditPage
from kopilka.services.back_office import JobDone
from kopilka.services.points import Balances, LedgerOutcome, outcome

RESULTS = [
    Result(entry_id=7, kind="earn", points=100, member_id=3, available=100, pending=0, held=0),
    Result(
        entry_id=None,
        kind="hold",
        points=40,
        member_id=3,
        available=60,
        pending=5,
        held=40,
        hold_id=9,
        details={"expired_on_return": 2, "lots": [1, 2]},
    ),
]


@pytest.mark.parametrize("result", RESULTS)
def test_a_ledger_outcome_is_the_stored_format(result: Result) -> None:
    """``outcome`` gives exactly ``Result.to_dict()``: what the idempotency store kept
    before the result was typed, so old and new stored outcomes are one format."""
    assert outcome(result) == result.to_dict()
    assert set(outcome(result)) == LedgerOutcome.__required_keys__


@pytest.mark.parametrize(
    ("typed", "model"),
    [
        (LedgerOutcome, LedgerResult),
        (Balances, BalancesPublic),
        (History, HistoryPage),
        (HistoryItem, HistoryItemPublic),
        (AuditPage, AuditPagePublic),
        (JobDone, JobResult),
    ],
)
def test_each_result_has_the_fields_of_its_response_model(typed: type, model: type) -> None:
    """A service result and the API model that answers it name the same fields, so the
    typed result is what the (unchanged) OpenAPI document promises."""
    assert set(get_type_hints(typed)) == set(model.model_fields)


def _entry(**changes: object) -> Entry:
    entry: Entry = {
        "kind": "adjust",
        "points": 30,
        "reference": None,
        "reason": "double credit",
        "actor": "cli:anna",
        "rule_id": None,
        "rule_version": None,
        "hold_id": None,
        "reverses_entry_id": None,
        "reverses_kind": None,
        "meta": {"delta": -30},
    }
    return {**entry, **changes}


def test_explain_reads_the_numbers_the_ledger_noted() -> None:
    """The sentences use the points noted in an entry's meta (a JSON object), and leave
    out staff names for the member."""
    assert explain(_entry()) == "adjusted by -30 points by cli:anna: double credit"
    assert explain(_entry(), for_member=True) == "adjusted by -30 points: double credit"
    back = _entry(kind="reverse", points=50, reverses_kind="earn", meta={"forgiven": 20})
    assert explain(back).startswith("return: 30 points taken back; 20 more")
    void = _entry(kind="void", hold_id=4, meta={"expired_on_return": 5, "reissued": 0})
    assert explain(void) == (
        "hold 4 cancelled, 30 points released, of which 5 expired at once "
        "(their validity had ended)"
    )
