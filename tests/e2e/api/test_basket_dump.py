"""A purchase command's fingerprint equals the dict the API used to hash: pydantic's dump."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kopilka.api.schemas.purchases import PurchaseCreate
from kopilka.domain.ids import ID_PATTERN
from kopilka.domain.program import Program

PROGRAM = Program(id=1, code="p", name="P")
NOW = datetime(2026, 6, 1, tzinfo=UTC)

codes = st.text(alphabet="abcXYZ019-_ .ж", min_size=1, max_size=12).filter(lambda s: s.strip())
ids = st.from_regex(ID_PATTERN, fullmatch=True)
amounts = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False).map(str)
quantities = st.sampled_from(["1", "2", "0.125", "1.500", "3.0", "10"])


@st.composite
def lines(draw: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"line_id": draw(ids), "sku": draw(codes), "amount": draw(amounts)}
    for name, values in (
        ("quantity", quantities),
        ("category", codes),
        ("brand", codes),
        ("discounted", st.booleans()),
        ("tags", st.lists(codes, max_size=3)),
    ):
        if draw(st.booleans()):
            line[name] = draw(values)
    return line


@st.composite
def bodies(draw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lines": draw(
            st.lists(lines(), min_size=1, max_size=6, unique_by=lambda x: str(x["line_id"]))
        )
    }
    if draw(st.booleans()):
        body["member_id"] = draw(st.integers(1, 10**9))
    else:
        body["member"] = draw(
            st.sampled_from(
                [{"card": "2770000000001"}, {"phone": "+7 912 345 67 89"}, {"email": "a@b.cd"}]
            )
        )
    for name, values in (
        ("occurred_at", st.sampled_from(["2026-03-01T10:00:00Z", "2026-03-01T13:00:00+03:00"])),
        ("store", ids),
        ("channel", st.sampled_from(["till", "web", "app"])),
        ("partner", codes),
        ("payment_method", codes),
        ("redeem_points", st.integers(0, 1000)),
        ("hold_id", st.integers(1, 1000)),
    ):
        if draw(st.booleans()):
            body[name] = draw(values)
    return body


@settings(max_examples=200, deadline=None)
@given(bodies())
def test_fingerprint_is_the_old_dump(body: dict[str, Any]) -> None:
    """A purchase command's fingerprint is the body as the API dumped it for the service
    before commands existed (pydantic's JSON dump, the channel defaulted to till), so
    its idempotency hash is unchanged (plan R1; the digests: test_purchase_fingerprint.py)."""
    model = PurchaseCreate.model_validate({**body, "receipt_id": "R-1"})
    cmd = model.to_command(PROGRAM, NOW, store=model.store, channel=model.channel or "till")
    old = model.model_dump(mode="json", exclude_none=True)
    old["channel"] = old.get("channel", "till")
    for later in ("payments", "promo_codes", "coupons"):  # fields that came later, dumped empty
        if old.get(later) == []:
            del old[later]
    assert cmd.fingerprint() == old
