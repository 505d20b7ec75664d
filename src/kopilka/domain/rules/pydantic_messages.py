"""pydantic's messages for the located errors of a rules document, given message ids.

A marketer reads these on the console's rules page: each common kind of error becomes a
:func:`~kopilka.domain.messages.msg` whose English is pydantic's own text, byte for byte (the
API and the CLI say what they said before), so the page can show it in its language. A kind
not listed here, or a text that does not come out the same, stays pydantic's plain string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kopilka.domain.messages import Message, msg


def _made(kind: str, ctx: Mapping[str, Any]) -> str | None:
    # one literal msg() per kind: the catalogs' extraction reads them from here
    if kind == "missing":
        return msg("Field required")
    if kind == "extra_forbidden":
        return msg("Extra inputs are not permitted")
    if kind == "greater_than_equal":
        return msg("Input should be greater than or equal to %(ge)s", ge=ctx.get("ge"))
    if kind == "greater_than":
        return msg("Input should be greater than %(gt)s", gt=ctx.get("gt"))
    if kind == "less_than_equal":
        return msg("Input should be less than or equal to %(le)s", le=ctx.get("le"))
    if kind == "less_than":
        return msg("Input should be less than %(lt)s", lt=ctx.get("lt"))
    if kind == "literal_error":
        return msg("Input should be %(expected)s", expected=ctx.get("expected"))
    if kind == "string_too_long":
        return msg("String should have at most %(max)s characters", max=ctx.get("max_length"))
    if kind == "string_too_short":
        return msg("String should have at least %(min)s characters", min=ctx.get("min_length"))
    if kind == "too_short":
        return msg(
            "List should have at least %(min)s items after validation, not %(actual)s",
            min=ctx.get("min_length"),
            actual=ctx.get("actual_length"),
        )
    if kind == "too_long":
        return msg(
            "List should have at most %(max)s items after validation, not %(actual)s",
            max=ctx.get("max_length"),
            actual=ctx.get("actual_length"),
        )
    if kind == "decimal_max_places":
        return msg(
            "Decimal input should have no more than %(places)s decimal places",
            places=ctx.get("decimal_places"),
        )
    if kind == "int_parsing":
        return msg("Input should be a valid integer, unable to parse string as an integer")
    if kind == "int_type":
        return msg("Input should be a valid integer")
    if kind == "int_from_float":
        return msg("Input should be a valid integer, got a number with a fractional part")
    if kind == "decimal_parsing":
        return msg("Input should be a valid decimal")
    if kind == "string_type":
        return msg("Input should be a valid string")
    if kind == "bool_parsing":
        return msg("Input should be a valid boolean, unable to interpret input")
    if kind == "bool_type":
        return msg("Input should be a valid boolean")
    if kind == "list_type":
        return msg("Input should be a valid list")
    if kind == "dict_type":
        return msg("Input should be a valid dictionary")
    return None


def located_message(error: Mapping[str, Any]) -> str:
    """The message of one of pydantic's errors (``ValidationError.errors()``), as a ``msg``
    when its kind is a common one and its English comes out as pydantic wrote it; a
    validator's own ``ValueError`` without pydantic's "Value error, " prefix."""
    raw = str(error.get("msg", ""))
    ctx = error.get("ctx") or {}
    if error.get("type") == "value_error":
        # a validator of ours raised ValueError(msg(...)): its message, ids and all
        cause = ctx.get("error")
        said = cause.args[0] if isinstance(cause, ValueError) and cause.args else None
        if isinstance(said, Message) and raw == f"Value error, {said}":
            return said
    made = _made(str(error.get("type", "")), ctx)
    if made is not None and made == raw:
        return made
    return raw.removeprefix("Value error, ")
