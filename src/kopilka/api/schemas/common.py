"""Field types shared by the schemas: bounded points, safe text, money as decimal strings."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

from kopilka.domain.basket import MAX_LINE_AMOUNT, MAX_QUANTITY, MAX_RECEIPT_AMOUNT
from kopilka.domain.ids import ID_PATTERN, ID_RULE

MAX_POINTS = 10**9
# the largest integer a JSON number carries exactly (2^53 - 1): beyond it a client's parser
# and the schema's own check round the id, and "<= maximum" stops meaning what it says
MAX_ID = 2**53 - 1
# what the database columns hold; beyond these an instant is input error, not a crash
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 2, tzinfo=UTC)


def _whole(value: Any) -> Any:
    # JSON Schema counts 2029.0 as an integer, so the server takes it as 2029; any other
    # float, a string or a boolean stays an error (the strict int below refuses it)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Whole = BeforeValidator(_whole)
# the constraints first: the validator then runs before them
Points = Annotated[int, Field(strict=True, ge=1, le=MAX_POINTS), Whole]
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID), Whole]
# a JSON true or false, never a 0, 1 or "yes" taken for one
Flag = Annotated[bool, Field(strict=True)]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps such input a 422
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


# what str.strip() removes; the schema's pattern names it so that the schema and the server
# agree on which text is blank (JSON Schema's \s is not Python's whitespace)
_BLANK = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = rf"^[^\x00]*[^\x00{_BLANK}][^\x00]*$"


def _bounded(n: int) -> Any:
    # the length is the sent text's and the pattern asks for something besides blanks and
    # no NUL: what the schema says exactly; the value is trimmed after the checks
    return StringConstraints(min_length=1, max_length=n, pattern=TEXT_PATTERN)


Trim = AfterValidator(str.strip)
# trimmed, non-empty, bounded as their database columns, without NUL characters
Reason = Annotated[str, _bounded(500), Trim]
# what support writes for the member to read (domain.reasons.MAX_MEMBER_TEXT)
MemberText = Annotated[str, _bounded(200), Trim]
Reference = Annotated[str, _bounded(128), Trim]
Name = Annotated[str, _bounded(100), Trim]
Code = Annotated[str, _bounded(64), Trim]
Word = Annotated[str, _bounded(32), Trim]
Tag = Annotated[str, _bounded(16), Trim]
Identifier = Annotated[str, _bounded(254), Trim]
# Member identifiers as enrollment normalises them (domain.identifiers), said as patterns
# so that a body the schema allows is one the normaliser takes; blanks around are trimmed.
# (Classes are spelled out: JSON Schema readers take \s and \w as ASCII, Python as Unicode.)
_WS = f"[{_BLANK}]*"
_NOT_IN_EMAIL = rf"[^@\x00-\x20\x7f{_BLANK}]"
Card = Annotated[
    str,
    StringConstraints(pattern=rf"^{_WS}([0-9A-Za-z-] *){{4,32}}{_WS}$"),
    Trim,
    Field(description="4-32 letters, digits or '-' (spaces ignored)"),
]
Phone = Annotated[
    str,
    StringConstraints(max_length=32, pattern=rf"^{_WS}[+ ().-]*([0-9][+ ().-]*){{8,15}}{_WS}$"),
    Trim,
    Field(description="8-15 digits, with +, spaces, (, ), '.' or '-'"),
]
Email = Annotated[
    str,
    StringConstraints(
        max_length=254,
        pattern=rf"^{_WS}{_NOT_IN_EMAIL}{{1,64}}@{_NOT_IN_EMAIL}+\.{_NOT_IN_EMAIL}{{2,}}{_WS}$",
    ),
    Trim,
]
External = Annotated[
    str,
    StringConstraints(pattern=rf"^{_WS}[A-Za-z0-9_.:@/-]{{1,128}}{_WS}$"),
    Trim,
    Field(description="1-128 ASCII letters, digits, '_', '.', ':', '@', '/' or '-'"),
]
# an id the caller chooses (receipt, return, line, event, store): the one grammar of
# kopilka.domain.ids, the same in bodies and paths
Ident = Annotated[
    str, StringConstraints(pattern=ID_PATTERN), Field(description=f"an id: {ID_RULE}")
]


# an instant is written with a year from 2001 to 2199: whatever its offset, it is then
# within EARLIEST and LATEST, so the schema's pattern is the whole rule
INSTANT_PATTERN = r"^(200[1-9]|20[1-9][0-9]|21[0-9][0-9])-"
_INSTANT = re.compile(INSTANT_PATTERN)


def _instant_text(value: Any) -> Any:
    # RFC 3339 text only (pydantic alone would take a number as a Unix time)
    if not isinstance(value, str) or not _INSTANT.match(value):
        raise ValueError("must be an RFC 3339 date-time with a year from 2001 to 2199")
    return value


def _in_range(at: datetime) -> datetime:
    problem = "instant must be between 2000-01-01 and 2200-01-02"
    try:
        utc = at.astimezone(UTC)
    except OverflowError:
        raise ValueError(problem) from None
    if not (EARLIEST <= utc < LATEST):
        raise ValueError(problem)
    return utc


Instant = Annotated[
    AwareDatetime,
    AfterValidator(_in_range),
    BeforeValidator(_instant_text),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": INSTANT_PATTERN}),
]

# Money as output: a decimal string, never a float, never NaN or Infinity
Money = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("1e12"), max_digits=16, decimal_places=4, allow_inf_nan=False),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]


def _decimal_in(pattern: str, what: str) -> Any:
    """A decimal a body sends: a string of ASCII digits matching ``pattern`` (or a whole
    JSON number), checked as the schema states it before ``Decimal`` reads it."""
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        if isinstance(value, str) and compiled.fullmatch(value):
            return Decimal(value)
        raise ValueError(f"must be {what}")

    return BeforeValidator(check)


_LINE_DIGITS = len(str(int(MAX_LINE_AMOUNT))) - 1
AMOUNT_PATTERN = rf"^[0-9]{{1,{_LINE_DIGITS}}}(\.[0-9]{{1,2}})?$"
_AMOUNT_RULE = f"a decimal string of ASCII digits below {MAX_LINE_AMOUNT}, at most 2 decimals"
# a line's amount: a decimal string below MAX_LINE_AMOUNT (domain.basket), 2 decimals at most
LineAmount = Annotated[
    Decimal,
    _decimal_in(AMOUNT_PATTERN, _AMOUNT_RULE),
    Field(ge=0, lt=MAX_LINE_AMOUNT),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": AMOUNT_PATTERN},
                {"type": "integer", "minimum": 0, "maximum": int(MAX_LINE_AMOUNT) - 1},
            ],
            "description": _AMOUNT_RULE,
        }
    ),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
_RECEIPT_DIGITS = len(str(int(MAX_RECEIPT_AMOUNT))) - 1
RECEIPT_AMOUNT_PATTERN = rf"^[0-9]{{1,{_RECEIPT_DIGITS}}}(\.[0-9]{{1,2}})?$"
_RECEIPT_AMOUNT_RULE = (
    f"a decimal string of ASCII digits below {MAX_RECEIPT_AMOUNT}, at most 2 decimals"
)
# an amount of a whole receipt (a payment, an order discount): below MAX_RECEIPT_AMOUNT
ReceiptAmount = Annotated[
    Decimal,
    _decimal_in(RECEIPT_AMOUNT_PATTERN, _RECEIPT_AMOUNT_RULE),
    Field(ge=0, lt=MAX_RECEIPT_AMOUNT),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": RECEIPT_AMOUNT_PATTERN},
                {"type": "integer", "minimum": 0, "maximum": int(MAX_RECEIPT_AMOUNT) - 1},
            ],
            "description": _RECEIPT_AMOUNT_RULE,
        }
    ),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
_QTY_DIGITS = len(str(int(MAX_QUANTITY))) - 1
# positive, below MAX_QUANTITY, at most 3 decimals: 1, 0.5, 0.125, 999999.999
QUANTITY_PATTERN = (
    rf"^([1-9][0-9]{{0,{_QTY_DIGITS - 1}}}(\.[0-9]{{1,3}})?"
    r"|0\.([1-9][0-9]{0,2}|0[1-9][0-9]?|00[1-9]))$"
)
_QUANTITY_RULE = f"a positive decimal string below {MAX_QUANTITY}, at most 3 decimals"
Quantity = Annotated[
    Decimal,
    _decimal_in(QUANTITY_PATTERN, _QUANTITY_RULE),
    Field(gt=0, lt=MAX_QUANTITY),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": QUANTITY_PATTERN},
                {"type": "integer", "minimum": 1, "maximum": int(MAX_QUANTITY) - 1},
            ],
            "description": _QUANTITY_RULE,
        }
    ),
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


def refuse_nulls(data: Any, names: tuple[str, ...]) -> Any:
    """Refuse an explicit ``null`` for ``names``: fields whose schema leaves ``null`` out
    (typed ``X | SkipJsonSchema[None]``), so that "exactly one of" can be stated in it."""
    if isinstance(data, dict):
        for name in names:
            if name in data and data[name] is None:
                raise ValueError(f"{name} must not be null; leave it out instead")
    return data


class Status(BaseModel):
    status: str
