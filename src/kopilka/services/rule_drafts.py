"""One rule of a draft rules document, read or written on its own: what the console's rule
form edits beside the document editor.

:func:`put_rule` adds a rule to a draft, or replaces one, and returns the new draft's
text. A YAML draft is edited in place: only the lines of the rule change, so the other
rules, their comments and their layout stay as the marketer wrote them; the rule itself
is written as a person would (``rate: {points: 1, per: '100'}``). When the draft's layout
does not allow that (flow-style rules, no rules yet) or the result would not read back
as intended, the whole document is written out again. A JSON draft is written out again
(JSON has no comments to lose). Either way the draft is then checked whole, exactly as
the editor's text is when previewed or published, and the rule read back from it is the
rule given.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import cast

import yaml

from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.rules.source import load_with_lines
from kopilka.services.rules import parse_document

RuleData = dict[str, object]


@dataclass(frozen=True, slots=True)
class PutRule:
    """Put ``rule`` (a rule as a document writes it) into the draft ``document`` (in
    ``fmt``): in place of the rule ``replacing`` (its id) when given, else at the end."""

    document: str
    fmt: str
    rule: Mapping[str, object]
    replacing: str | None = None


def draft_rules(document: str, fmt: str) -> list[RuleData]:
    """The rules of a draft as written (mappings), in order; a draft that cannot be read
    is a :class:`ValidationError` naming its line."""
    data, _lines = load_with_lines(document, fmt)
    rules = data.get("rules") if isinstance(data, dict) else None
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


def find_rule(document: str, fmt: str, rule_id: str) -> RuleData | None:
    """The rule ``rule_id`` of a draft as written, or None."""
    return next((r for r in draft_rules(document, fmt) if r.get("id") == rule_id), None)


def put_rule(cmd: PutRule) -> str:
    """The draft with the rule put in (see the module's docstring). The rule's id must be
    new to the draft unless it is the one replaced; the result must be a valid document
    (a :class:`ValidationError` with each problem's line otherwise)."""
    data, lines = load_with_lines(cmd.document, cmd.fmt)
    if not isinstance(data, dict):
        raise ValidationError(msg("the draft must be a mapping with 'rules'"), field="document")
    rules = data.get("rules")
    if rules is None:
        rules = []
    if not isinstance(rules, list):
        raise ValidationError(msg("the draft's 'rules' must be a list"), field="document")
    rule = dict(cmd.rule)
    rule_id = rule.get("id")
    index = None
    if cmd.replacing is not None:
        index = next(
            (
                i
                for i, r in enumerate(rules)
                if isinstance(r, dict) and r.get("id") == cmd.replacing
            ),
            None,
        )
        if index is None:
            raise ValidationError(
                msg("rule %(replacing)s is not in the draft", replacing=repr(cmd.replacing)),
                field="rule",
                rule=cmd.replacing,
            )
    for i, other in enumerate(rules):
        if i != index and isinstance(other, dict) and other.get("id") == rule_id:
            raise ValidationError(
                msg("the draft already has a rule %(rule_id)s", rule_id=repr(rule_id)),
                field="id",
                rule=rule_id,
            )
    if cmd.fmt == "json":
        written = cast(RuleData, _json_value(rule))
        expected = _with_rule(data, written, index)
        text = json.dumps(expected, ensure_ascii=False, indent=2) + "\n"
    else:
        block = _yaml_rule(rule)
        written = yaml.safe_load(block)[0]
        expected = _with_rule(data, written, index)
        text = _spliced(cmd.document, lines, rules, index, block) or ""
        if not text or yaml.safe_load(text) != expected:
            text = yaml.safe_dump(expected, sort_keys=False, allow_unicode=True, width=100)
    parse_document(text, cmd.fmt, 1)  # the draft as a whole, as the editor's text is checked
    return text


def _with_rule(data: RuleData, rule: RuleData, index: int | None) -> RuleData:
    out = copy.deepcopy(data)
    rules = list(cast(list[object], out.get("rules") or []))
    if index is None:
        rules.append(rule)
    else:
        rules[index] = rule
    out["rules"] = rules
    return out


def _json_value(value: object) -> object:
    """A rule as JSON writes it: dates as ISO strings."""
    return json.loads(json.dumps(value, default=_iso))


def _iso(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _yaml_rule(rule: RuleData) -> str:
    """The rule as one item of a YAML list, as a person writes it: mappings of plain
    values on one line (``rate: {points: 1, per: '100'}``), the rule's own keys on lines."""
    return yaml.safe_dump(
        [rule], sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
    )


def _spliced(
    text: str,
    lines: Mapping[tuple[str | int, ...], int],
    rules: list[object],
    index: int | None,
    block: str,
) -> str | None:
    """The YAML text with ``block`` in place of the lines of rule ``index`` (or after the
    last rule), indented as the rules are; None when the rules are not a block list."""
    if not rules:
        return None
    source = text.splitlines(keepends=True)
    if source and not source[-1].endswith("\n"):
        source[-1] += "\n"
    at = index if index is not None else len(rules) - 1
    span = _item_span(source, lines, at)
    if span is None:
        return None
    start, end, column = span
    pad = " " * column
    new = [pad + line if line.strip() else line for line in block.splitlines(keepends=True)]
    if index is None:
        return "".join(source[: end + 1] + new + source[end + 1 :])
    return "".join(source[:start] + new + source[end + 1 :])


def _item_span(
    source: list[str], lines: Mapping[tuple[str | int, ...], int], index: int
) -> tuple[int, int, int] | None:
    """The first and last line (0-based) of the list item ``rules[index]`` and the column
    of its dash; None unless it is a block item starting with ``- ``."""
    line_no = lines.get(("rules", index))
    if line_no is None or line_no > len(source):
        return None
    start = line_no - 1
    first = source[start]
    column = len(first) - len(first.lstrip(" "))
    if not first.lstrip(" ").startswith("- "):
        return None
    end = start
    for k in range(start + 1, len(source)):
        stripped = source[k].strip()
        if not stripped or stripped.startswith("#"):
            continue  # blank lines and comments belong to what follows them
        if len(source[k]) - len(source[k].lstrip(" ")) <= column:
            break
        end = k
    return start, end, column
