"""``ServiceContext.idempotent`` is generic in its result: a use case's TypedDict comes back
as that type, first from the effect and then, for the same key, from the stored outcome;
the request may be any mapping (a command's fingerprint) and hashes as the same dict."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import TypedDict

import pytest

from kopilka.domain.errors import IdempotencyConflict
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.store.uow import UnitOfWork


class Booked(TypedDict):
    receipt_id: str
    points: int
    lines: list[dict[str, str]]


def test_a_typed_result_is_returned_then_replayed_unchanged(
    ctx: ServiceContext, make_program: Callable[..., Program]
) -> None:
    """The effect runs once; the replay (same key, same request given as another mapping
    type) answers the stored JSON object, equal to the first result; another request under
    the key is still a conflict."""
    program = make_program()
    runs: list[int] = []

    expected: Booked = {"receipt_id": "r-1", "points": 7, "lines": [{"id": "1", "refund": "1.50"}]}

    def effect(_uow: UnitOfWork) -> Booked:
        runs.append(1)
        return {"receipt_id": "r-1", "points": 7, "lines": [{"id": "1", "refund": "1.50"}]}

    request = {"receipt_id": "r-1", "amount": "12.50"}
    first: Booked = ctx.idempotent(program.id, "generic:r-1", "purchase", request, effect)
    again: Booked = ctx.idempotent(
        program.id, "generic:r-1", "purchase", MappingProxyType(request), effect
    )
    assert first == again == expected
    assert runs == [1]  # the replay did not run the effect
    assert again["lines"][0]["refund"] == "1.50"
    with pytest.raises(IdempotencyConflict):
        ctx.idempotent(program.id, "generic:r-1", "purchase", {"receipt_id": "r-2"}, effect)
