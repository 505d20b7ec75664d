"""A return's fingerprint: without a reason it hashes exactly as the API's body did before
returns took one (a retry across the upgrade replays); a reason changes it."""

from __future__ import annotations

from decimal import Decimal

from kopilka.domain.reasons import Reason, ReasonCode
from kopilka.ledger.idempotency import request_hash
from kopilka.services.purchases import ProcessReturn, ReturnLine


def test_a_return_without_a_reason_hashes_as_before():
    """The request dict of a return by line, and of a whole return, is what it was."""
    by_line = ProcessReturn("R-1", "RET-1", (ReturnLine("1", Decimal("2")), ReturnLine("2")))
    assert by_line.fingerprint() == {
        "receipt_id": "R-1",
        "return_id": "RET-1",
        "lines": [{"line_id": "1", "quantity": "2"}, {"line_id": "2"}],
    }
    assert ProcessReturn("R-1", "RET-1").fingerprint() == {
        "receipt_id": "R-1",
        "return_id": "RET-1",
    }


def test_a_reason_is_part_of_the_request():
    """The same return with another reason (or none) is another request under its key."""
    plain = ProcessReturn("R-1", "RET-1")
    damaged = ProcessReturn("R-1", "RET-1", reason=Reason(ReasonCode.RETURN, "torn"))
    asked = ProcessReturn("R-1", "RET-1", reason=Reason(ReasonCode.CUSTOMER_REQUEST))
    hashes = {request_hash("return", c.fingerprint()) for c in (plain, damaged, asked)}
    assert len(hashes) == 3
    assert damaged.fingerprint()["reason"] == {"internal": "return: torn", "reason_code": "return"}
