"""``Award`` as a named tuple: what :mod:`kopilka.domain.rules.context` exports as ``Award``
when it runs as Python (never compiled; see ``context.Award`` for why there are two)."""

from __future__ import annotations

from typing import NamedTuple


class Award(NamedTuple):
    """Points one rule gave, attributed to one basket line (``None`` for an event)."""

    rule_id: str
    ruleset_version: int
    line_id: str | None
    points: int
    description: str
    visible: bool = True

    def as_tuple(self) -> tuple[str, int, str | None, int, str, bool]:
        """The fields in order (the award itself)."""
        return self


Award.__module__ = "kopilka.domain.rules.context"  # where it is found (and pickled) as Award
