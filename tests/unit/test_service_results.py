"""The result types of the point-movement, history, audit and sweep services are the
formats they always were: the outcome stored under an idempotency key (replayed as it is
for keys stored before) and the API's response models, key for key; and their commands
bind a key to the same request hash as the keyword arguments they replace did."""

from __future__ import annotations

from typing import get_type_hints

import pytest

from kopilka.api.schemas.admin import AuditPage as AuditPagePublic
from kopilka.api.schemas.admin import JobResult
from kopilka.api.schemas.points import Balances as BalancesPublic
from kopilka.api.schemas.points import HistoryItem as HistoryItemPublic
from kopilka.api.schemas.points import HistoryPage, LedgerResult
from kopilka.ledger.idempotency import request_hash
from kopilka.ledger.model import Result
from kopilka.services.audit import Entry, History, HistoryItem, explain
from kopilka.services.audit_log import AuditPage
from kopilka.services.back_office import JobDone, SetBlocked, adjust_fingerprint
from kopilka.services.points import (
    Adjust,
    Balances,
    Capture,
    Earn,
    LedgerOutcome,
    PlaceHold,
    Redeem,
    Reverse,
    VoidHold,
    outcome,
)

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
    out staff names and their internal reasons for the member."""
    assert explain(_entry()) == "adjusted by -30 points by cli:anna: double credit"
    assert explain(_entry(), for_member=True) == "adjusted by -30 points"
    back = _entry(kind="reverse", points=50, reverses_kind="earn", meta={"forgiven": 20})
    assert explain(back).startswith("return: 30 points taken back; 20 more")
    void = _entry(kind="void", hold_id=4, meta={"expired_on_return": 5, "reissued": 0})
    assert explain(void) == (
        "hold 4 cancelled, 30 points released, of which 5 expired at once "
        "(their validity had ended)"
    )


# request_hash of each operation's request as the services built it before commands
# (computed on main at 2a52928 from the literal request dicts): a key stored then still
# replays, and still conflicts with another request
GOLDEN = [
    (
        "earn",
        Earn(7, 120, key="k", reason="welcome", reference="R-1", rule_id="r1", rule_version=3),
        "a47bee8125d2fe6842450224772f1072a4f851a30b832e47a1f7d05f36645345",
    ),
    (
        "redeem",
        Redeem(7, 70, key="k"),
        "ebb8c8f8216a72b5fbb959c95b331efd13bac9f4c58f88f596accdf814a08cdc",
    ),
    (
        "hold",
        PlaceHold(7, 90, key="k", ttl_seconds=60, reference="R-2"),
        "8c128e5f944de03a80ff83bd760fb8a94bfb6ef4248c406cdb007ff38649191b",
    ),
    (
        "hold",
        PlaceHold(7, 90, key="k", store="msk-1"),
        "af30465ec58d63eecaf6bbe374ba36de3aa6d81590492dd2434bec087b6103f2",
    ),
    (
        "capture",
        Capture(5, key="k", points=60),
        "7312c42b507d3d9c95657ed0060dc052a70f4f45643882bb4aeecbe00973d616",
    ),
    (
        "void",
        VoidHold(5, key="k"),
        "48d4191cb9dd48621a93c58371e257b065f88da6a2ddce7f772391c46dad62b6",
    ),
    (
        "reverse",
        Reverse(11, key="k", points=40, reason="return", actor="support:x"),
        "df4ba5a38747262f6d3d014a1dab746eab34aa210fc2c78886fcde2155820d4a",
    ),
    (
        "adjust",
        Adjust(7, -30, key="k", reason="double credit", actor="cli:anna"),
        "94754e0c21184e6d47fb3557b4d6b74a512e74c866b5b8ecd30cba587387aefc",
    ),
]


@pytest.mark.parametrize(("operation", "command", "digest"), GOLDEN)
def test_a_command_fingerprints_as_the_request_did(
    operation: str, command: Earn, digest: str
) -> None:
    """Each point movement's key is bound to the same request hash as before commands
    (R1 of issue 19): the key is not part of it, and a hold's store only when it has one."""
    assert request_hash(operation, command.fingerprint()) == digest


def test_back_office_commands_fingerprint_as_the_requests_did() -> None:
    """The audited adjustment (without the actor: the audit names it) and a block keep
    their request hashes too."""
    adjust = Adjust(7, -30, key="k", reason="double credit", actor="cli:anna")
    assert request_hash("adjust", adjust_fingerprint(adjust)) == (
        "c45082c006cf2cade736f0401b104508b66302487266f81f4f8c6a069820f4a0"
    )
    block = SetBlocked(7, True, "fraud", key="k", actor="apikey:1:pos")
    assert request_hash("block", block.fingerprint()) == (
        "286ab0133e5728a06a00ecf1f285bb2d0215ba79633c97be86c9f45b3f88f977"
    )
