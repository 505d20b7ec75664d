"""Golden test (plan R1): a purchase's idempotency fingerprint hashes exactly as it did when
the API handed the service its body as a dict. A purchase booked before the change then
replays on a retry after it, instead of answering 409 idempotency_conflict."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from kopilka.api.routers.purchases import placed
from kopilka.api.schemas.purchases import PurchaseCreate, ReturnCreate
from kopilka.domain.program import Program
from kopilka.ledger.idempotency import request_hash
from kopilka.services.scope import StoreScope

PROGRAM = Program(id=1, code="p", name="P")
NOW = datetime(2026, 6, 1, tzinfo=UTC)

# body, the key's scope and channel, and request_hash("purchase", ...) computed on main at
# 2a52928 (before commands) from basket_of(key, PurchaseCreate.model_validate(body))
GOLDEN: list[tuple[dict[str, Any], StoreScope | None, str | None, str]] = [
    (
        {
            "receipt_id": "R-1",
            "member_id": 7,
            "lines": [{"line_id": "1", "sku": "MILK", "amount": "120.50"}],
        },
        None,
        None,
        "1c2c5d9d7bdfa8e83393a7cdf1ebf00b00ecb08b3f1c5196a144b9fe22b417f7",
    ),
    (
        {
            "receipt_id": "R-2",
            "member": {"card": " 1234 5678 "},
            "redeem_points": 50,
            "occurred_at": "2026-03-01T10:15:00+03:00",
            "store": "S1",
            "partner": "P",
            "payment_method": "card",
            "lines": [
                {
                    "line_id": "a",
                    "sku": "X",
                    "quantity": "1.500",
                    "amount": "12.5",
                    "category": "dairy",
                    "brand": "B",
                    "discounted": True,
                    "tags": ["z", "a"],
                },
                {"line_id": "b", "sku": "Y", "amount": 30},
            ],
        },
        StoreScope("S1"),
        "till",
        "591ac4dc96e10635ba7b171b1a03b3ee2bc9e12a2e25a42decb65d6ab2be4290",
    ),
    (
        {
            "receipt_id": "R-3",
            "member_id": 3,
            "hold_id": 9,
            "channel": "web",
            "occurred_at": "2026-03-01T10:15:00.123456Z",
            "lines": [{"line_id": "1", "sku": "S", "quantity": 2, "amount": "0"}],
        },
        None,
        "web",
        "0ad29003062750c002705790bcca0d0a4b8fab9f2173cb73b880b72ecb09c6e0",
    ),
]


@pytest.mark.parametrize(("body", "scope", "channel", "digest"), GOLDEN)
def test_purchase_fingerprint_hashes_as_before(
    body: dict[str, Any], scope: StoreScope | None, channel: str | None, digest: str
) -> None:
    """The command built from a body (amounts as written: "12.5", tags in the caller's
    order, an offset time) hashes to the digest the old dict gave."""
    key: Any = SimpleNamespace(scope=scope, channel=channel)
    model = PurchaseCreate.model_validate(body)
    store, placed_channel = placed(key, model)
    cmd = model.to_command(PROGRAM, NOW, store=store, channel=placed_channel)
    assert request_hash("purchase", cmd.fingerprint()) == digest


def test_return_fingerprint_hashes_as_before() -> None:
    """A partial return's fingerprint hashes as ``{"receipt_id": ..., **body}`` did."""
    body = {
        "return_id": "ret-1",
        "lines": [{"line_id": "a", "quantity": "0.500"}, {"line_id": "b"}],
    }
    cmd = ReturnCreate.model_validate(body).to_command("R-2")
    assert (
        request_hash("return", cmd.fingerprint())
        == "8179cb9facb08900289eed433245283734130bfbedc87c68da3814379b6fcd7f"
    )
