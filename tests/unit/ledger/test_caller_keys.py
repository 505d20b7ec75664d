"""The two namespaces of stored idempotency keys: a key given from outside can never be
one Kopilka makes itself, nor another caller's."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kopilka.domain.errors import ValidationError
from kopilka.ledger.idempotency import MAX_KEY_LENGTH, caller_key
from kopilka.services.purchases import receipt_key
from kopilka.store.bulk.lookup import checkpoint_key

printable = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=200)
callers = st.one_of(
    st.integers(1, 2**63 - 1).map(str),
    st.integers(1, 2**63 - 1).map(lambda n: f"member-{n}"),
    st.just("cli"),
)


@given(callers, printable, st.text(min_size=1, max_size=64))
def test_a_callers_key_is_never_an_internal_key(caller: str, key: str, ref: str) -> None:
    """Whatever a caller sends, its stored key starts with ``caller:`` and fits the
    column; the keys of receipts, returns, events, imports and the demo never do."""
    stored = caller_key(caller, key)
    assert stored.startswith("caller:")
    assert len(stored) <= MAX_KEY_LENGTH
    assert len(f"{stored} adjust") <= MAX_KEY_LENGTH  # services.back_office's derived key
    internal = (
        receipt_key(ref),
        f"return:{ref}:{ref}",
        f"event:{ref}",
        checkpoint_key("purchases", ref),
        f"demo:{ref}",
    )
    assert stored not in internal
    assert not any(k.startswith("caller:") for k in internal)


@given(callers, callers, printable, printable)
def test_two_callers_keys_meet_only_if_caller_and_key_are_the_same(
    a: str, b: str, key_a: str, key_b: str
) -> None:
    """``caller:<caller>:<key>`` is one-to-one: the caller has no colon, so the first
    colon after the prefix ends it."""
    same = caller_key(a, key_a) == caller_key(b, key_b)
    assert same == ((a, key_a) == (b, key_b))


@pytest.mark.parametrize("key", ["", "a b", "tab\there", "é", "x" * 201])
def test_a_key_outside_the_grammar_is_a_validation_error(key: str) -> None:
    """Empty, with a space or a non-ASCII character, or longer than 200: refused as input
    (so ``<key> adjust`` is never a caller's own key)."""
    with pytest.raises(ValidationError):
        caller_key("cli", key)


@pytest.mark.parametrize("caller", ["1:2", "legacy", "", "member-", "CLI"])
def test_a_caller_that_is_none_of_the_known_kinds_is_a_programming_error(caller: str) -> None:
    """The caller part is Kopilka's own (an API key id, ``member-<id>``, ``cli``): a colon
    in it would make two namespaces meet, and ``legacy`` would reach the keys migration
    0008 (caller keys) moved aside, so anything else is refused outright."""
    with pytest.raises(ValueError, match="not a caller"):
        caller_key(caller, "k")
