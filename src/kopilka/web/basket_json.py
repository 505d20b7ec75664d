"""The console's rules preview takes a basket as JSON typed by an operator: this module
turns that JSON object into a :class:`~kopilka.domain.basket.Basket` at the console's edge.

The JSON's shape (lines a list of objects) is checked here; each field is then read by the
same cell parser the importer uses for a receipt (``services/imports/rows.basket``: the id
grammar, ASCII amounts, the bounds per line and per receipt), so the preview refuses what
an import or the API refuses, with the same fields."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from kopilka.domain.basket import Basket
from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.services.imports.rows import basket
from kopilka.web.i18n import tr


def parse_basket(data: Mapping[str, object], program: Program, now: datetime) -> Basket:
    """A Basket from the preview form's JSON object; amounts are decimal strings in the
    program's currency."""
    raw_lines = data.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise ValidationError(tr("a purchase needs at least one line"), field="lines")
    lines: list[dict[str, object]] = []
    for i, raw in enumerate(raw_lines):
        if not isinstance(raw, dict):
            raise ValidationError(tr("each line must be a JSON object"), field=f"lines[{i}]")
        lines.append(raw)
    return basket(data, lines, program, now)
