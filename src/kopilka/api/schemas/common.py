"""Field types shared by the schemas: bounded points, safe text, money as decimal strings."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

MAX_POINTS = 10**9
MAX_ID = 2**63 - 1
# what the database columns hold; beyond these an instant is input error, not a crash
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

Points = Annotated[int, Field(strict=True, ge=1, le=MAX_POINTS)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps such input a 422
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)


def _bounded(n: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=n)


# trimmed, non-empty, bounded as their database columns, without NUL characters
Reason = Annotated[str, _bounded(500), NoNul]
Reference = Annotated[str, _bounded(128), NoNul]
Name = Annotated[str, _bounded(100), NoNul]
Code = Annotated[str, _bounded(64), NoNul]
Word = Annotated[str, _bounded(32), NoNul]
Tag = Annotated[str, _bounded(16), NoNul]
Identifier = Annotated[str, _bounded(254), NoNul]


def _in_range(at: datetime) -> datetime:
    problem = "instant must be between 2000-01-01 and 2200-01-01"
    try:
        utc = at.astimezone(UTC)
    except OverflowError:
        raise ValueError(problem) from None
    if not (EARLIEST <= utc < LATEST):
        raise ValueError(problem)
    return utc


Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]

# Money: a decimal string in, a decimal string out; never a float, never NaN or Infinity
Money = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("1e12"), max_digits=16, decimal_places=4, allow_inf_nan=False),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
# Quantity: a decimal string too, positive, at most 3 decimals (0.125 kg)
Quantity = Annotated[
    Decimal,
    Field(gt=0, le=1_000_000, max_digits=10, decimal_places=3, allow_inf_nan=False),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
# amounts the server computed, already formatted in the program's currency ("12.50")
MoneyText = Annotated[str, Field(description="a decimal string", examples=["12.50"])]


def _json_safe(value: Any, depth: int = 0) -> Any:
    if depth > 5:
        raise ValueError("attributes may nest at most 5 levels")
    if isinstance(value, str):
        return _no_nul(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("attributes must not contain NaN or Infinity")
    if isinstance(value, list):
        return [_json_safe(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {_no_nul(str(k)): _json_safe(v, depth + 1) for k, v in value.items()}
    return value


Attributes = Annotated[dict[str, Any], Field(max_length=50), AfterValidator(_json_safe)]


class Input(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Status(BaseModel):
    status: str
