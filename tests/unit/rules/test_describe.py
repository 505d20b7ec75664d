"""What members are shown, and the public surface of the rules package."""

from __future__ import annotations

import kopilka.domain.rules as api
from kopilka.domain.rules import describe_rules, evaluate_purchase

from .factories import basket, line, member, program, rules

DOC = """
rules:
  - {id: open, kind: rate, description: "1 балл за 100 ₽", rate: {points: 1, per: "100"}}
  - {id: secret, kind: bonus, visible: false, description: "Сюрприз", points: 5}
"""


def test_hidden_rules_not_listed_but_still_explained_in_history() -> None:
    """Hidden rules are left out of the member list, yet their awards carry id and text."""
    ruleset = rules(DOC)
    assert [d.id for d in describe_rules(ruleset)] == ["open"]
    assert [d.id for d in describe_rules(ruleset, visible_only=False)] == ["open", "secret"]
    awards = evaluate_purchase(ruleset, program(), basket(line("1", 100)), member()).awards
    secret = [a for a in awards if a.rule_id == "secret"]
    assert secret[0].description == "Сюрприз"
    assert secret[0].visible is False


def test_public_names_are_exported() -> None:
    """Everything in __all__ exists and nothing private is exported."""
    assert all(hasattr(api, name) for name in api.__all__)
    assert all(not name.startswith("_") for name in api.__all__)
