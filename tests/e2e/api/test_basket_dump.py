"""The hand-written dump of a basket body equals pydantic's own, key for key."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kopilka.api.schemas.purchases import PurchaseCreate, QuoteRequest
from kopilka.domain.ids import ID_PATTERN

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
    body: dict[str, Any] = {"lines": draw(st.lists(lines(), min_size=1, max_size=6))}
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
@given(bodies(), st.booleans())
def test_same_dict_as_pydantic(body: dict[str, Any], purchase: bool) -> None:
    if purchase:
        model: QuoteRequest = PurchaseCreate.model_validate({**body, "receipt_id": "R-1"})
    else:
        body.pop("hold_id", None)
        model = QuoteRequest.model_validate(body)
    fast = model.as_service_input()
    slow = model.model_dump(mode="json", exclude_none=True)
    assert fast == slow
    assert list(fast) == list(slow)
    assert [list(x) for x in fast["lines"]] == [list(x) for x in slow["lines"]]
