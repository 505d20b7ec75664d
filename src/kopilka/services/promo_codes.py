"""Uses of promo codes, counted in ``rule_usage`` under the rule id ``promo:<CODE>``: per
member (the member's id) and in total (member 0), period ``all``. Rule ids cannot hold a
colon, so the counters never meet a rule's. A quote reads them; a commit takes a use
under the limits, exactly under concurrency (:meth:`UsageRepo.take`); the return of a
whole purchase gives its uses back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kopilka.domain.errors import PromoCodeInvalid
from kopilka.domain.rules.model import PromoCodeSpec
from kopilka.store.repos.rules import UsageRepo

ALL = "all"
TOTAL = 0  # the member id of the program-wide count


def counter(code: str) -> str:
    """The ``rule_usage.rule_id`` of a code's uses."""
    return f"promo:{code}"


def _used_up(code: str) -> PromoCodeInvalid:
    return PromoCodeInvalid(f"promo code {code!r} has been used up", code=code, reason="used_up")


def check_limits(
    repo: UsageRepo, program_id: int, specs: Sequence[PromoCodeSpec], member_id: int
) -> None:
    """Refuse a code whose uses have reached a limit (as a quote sees them)."""
    keys: list[tuple[str, int, str]] = []
    for spec in specs:
        if spec.per_member is not None:
            keys.append((counter(spec.code), member_id, ALL))
        if spec.total is not None:
            keys.append((counter(spec.code), TOTAL, ALL))
    found = repo.get(program_id, keys)
    for spec in specs:
        mine = found.get((counter(spec.code), member_id, ALL), (0, 0))[1]
        everyone = found.get((counter(spec.code), TOTAL, ALL), (0, 0))[1]
        if (spec.per_member is not None and mine >= spec.per_member) or (
            spec.total is not None and everyone >= spec.total
        ):
            raise _used_up(spec.code)


def take(repo: UsageRepo, program_id: int, specs: Sequence[PromoCodeSpec], member_id: int) -> None:
    """Count a use of each code, per member and in total; refuse (and the caller's
    transaction rolls back) when a limit is reached. Codes are taken in sorted order, so two
    purchases never wait on each other's rows crosswise."""
    for spec in sorted(specs, key=lambda s: s.code):
        name = counter(spec.code)
        if not repo.take(program_id, (name, member_id, ALL), spec.per_member):
            raise _used_up(spec.code)
        if not repo.take(program_id, (name, TOTAL, ALL), spec.total):
            raise _used_up(spec.code)


def give_back(repo: UsageRepo, program_id: int, codes: Iterable[str], member_id: int) -> None:
    """Uncount one use of each code, per member and in total (a purchase returned whole)."""
    for code in sorted(codes):
        repo.give_back(program_id, (counter(code), member_id, ALL))
        repo.give_back(program_id, (counter(code), TOTAL, ALL))
