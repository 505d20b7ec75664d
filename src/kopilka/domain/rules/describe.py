"""Rules as members see them: the open rules with their descriptions, in priority order."""

from __future__ import annotations

from dataclasses import dataclass

from kopilka.domain.rules.model import RuleSet


@dataclass(frozen=True, slots=True)
class RuleDescription:
    """One rule for a member-facing list (hidden rules are left out by default)."""

    id: str
    kind: str
    description: str
    visible: bool
    event: str | None = None


def describe_rules(ruleset: RuleSet, visible_only: bool = True) -> list[RuleDescription]:
    """The rule set's rules in ``(priority, id)`` order; hidden ones only if asked for."""
    return [
        RuleDescription(
            id=rule.id,
            kind=rule.kind,
            description=rule.description,
            visible=rule.visible,
            event=rule.event or None,
        )
        for rule in ruleset.rules
        if rule.visible or not visible_only
    ]
