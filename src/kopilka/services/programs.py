"""Creating and configuring programs.

Each interface builds the command (:class:`CreateProgram`, :class:`SetRestorePolicy`)
from what it parsed; the domain's :class:`Program` checks the settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TypedDict

from kopilka.domain.errors import ConflictError, NotFoundError
from kopilka.domain.expiry import ExpiryPolicy
from kopilka.domain.money import Rounding
from kopilka.domain.program import ExpiryFrom, NegativeBalancePolicy, Program, RestorePolicy
from kopilka.services.context import ServiceContext
from kopilka.store.repos.verification import VerificationRepo


@dataclass(frozen=True, slots=True)
class CreateProgram:
    """A new program's settings (:class:`Program`'s, without its id); ``name`` defaults
    to the code."""

    code: str
    name: str | None = None
    currency: str = "RUB"
    # money value of one point, in minor units (1 point = 1 RUB -> 100)
    point_value_minor: int = 100
    rounding: Rounding = Rounding.DOWN
    timezone: str = "UTC"
    expiry: ExpiryPolicy = field(default_factory=ExpiryPolicy)
    activation_delay: timedelta = timedelta(0)
    negative_balance: NegativeBalancePolicy = NegativeBalancePolicy.FORGIVE
    restore_policy: RestorePolicy = RestorePolicy.EXPIRE
    hold_ttl: timedelta = timedelta(seconds=900)
    expiry_from: ExpiryFrom = ExpiryFrom.EARNING

    def program(self, program_id: int) -> Program:
        """The program these settings make, with ``program_id`` (ValidationError naming
        the field a setting is wrong in)."""
        return Program(
            id=program_id,
            code=self.code,
            name=self.name or self.code,
            currency=self.currency,
            point_value_minor=self.point_value_minor,
            rounding=self.rounding,
            timezone=self.timezone,
            expiry=self.expiry,
            activation_delay=self.activation_delay,
            negative_balance=self.negative_balance,
            restore_policy=self.restore_policy,
            hold_ttl=self.hold_ttl,
            expiry_from=self.expiry_from,
        )


@dataclass(frozen=True, slots=True)
class SetRestorePolicy:
    """Set a program's restore policy; ``program``: its id (an int) or code."""

    program: str | int
    policy: RestorePolicy


@dataclass(frozen=True, slots=True)
class SetRulesApproval:
    """Whether a marketer's publication of rules is a proposal an admin approves
    (``on``) or publishes at once (``off``, the default); ``program``: its id or code."""

    program: str | int
    on: bool


@dataclass(frozen=True, slots=True)
class SetExpiryFrom:
    """Set what a program's expiry counts from; ``program``: its id (an int) or code."""

    program: str | int
    expiry_from: ExpiryFrom


class ProgramTotals(TypedDict):
    """A program's account totals in points (issued, redeemed and so on as positive
    numbers), and how many members and journal entries it has."""

    liability: int
    issued: int
    redeemed: int
    expired: int
    adjustments: int
    members: int
    entries: int


def create_program(ctx: ServiceContext, command: CreateProgram) -> Program:
    """Register a new program; its code must be unique."""
    draft = command.program(0)
    with ctx.uow() as uow:
        if any(p.code == draft.code for p in uow.programs.list()):
            raise ConflictError(f"program {draft.code!r} already exists", program=draft.code)
        program_id = uow.programs.add(draft, ctx.now())
        uow.commit()
    return replace(draft, id=program_id)


def get_program(ctx: ServiceContext, code_or_id: str | int) -> Program:
    """A program by id (an int), or by code, else by id (a string): a code may be all digits."""
    with ctx.uow(read_only=True) as uow:
        if isinstance(code_or_id, int):
            return uow.programs.get(code_or_id)
        try:
            return uow.programs.by_code(code_or_id)
        except NotFoundError:
            if not code_or_id.isdigit():
                raise
        return uow.programs.get(int(code_or_id))


def list_programs(ctx: ServiceContext) -> list[Program]:
    """Every program, in the order they were created."""
    with ctx.uow(read_only=True) as uow:
        return uow.programs.list()


def _store(program: Program, ctx: ServiceContext) -> Program:
    """Write a program's changed settings; the program as stored."""
    with ctx.uow() as uow:
        uow.programs.update(program)
        uow.commit()
    return program


def set_restore_policy(ctx: ServiceContext, command: SetRestorePolicy) -> Program:
    """Change what a program's returns do with spent points whose lot has expired (see
    :class:`RestorePolicy`), for the returns made from now on: a program created when
    ``reissue`` was the default moves to the domain's rule, ``expire``, this way. Servers
    see the change within their API key cache's few seconds."""
    return _store(replace(get_program(ctx, command.program), restore_policy=command.policy), ctx)


def set_rules_approval(ctx: ServiceContext, command: SetRulesApproval) -> Program:
    """Switch the approval of rules for a program: when on, a marketer's publication
    becomes a proposal (:mod:`kopilka.services.rule_proposals`) that an admin approves
    or rejects; when off, publishing is direct. Proposals already made stay as they
    are (an admin still decides them)."""
    return _store(replace(get_program(ctx, command.program), rules_approval=command.on), ctx)


def set_expiry_from(ctx: ServiceContext, command: SetExpiryFrom) -> Program:
    """Change what a program's expiry counts from (:class:`ExpiryFrom`), for the points
    earned from now on: lots already earned keep their expiry."""
    return _store(replace(get_program(ctx, command.program), expiry_from=command.expiry_from), ctx)


def program_totals(ctx: ServiceContext, program: Program) -> ProgramTotals:
    """Account totals of one program (liability, issued, redeemed, expired, members),
    without running the verify checks: recomputed from every row, so it grows with the
    program (the overview reads the ``totals`` job's snapshot instead)."""
    with ctx.uow(read_only=True) as uow:
        totals = VerificationRepo(uow.conn).totals(program.id)
    return totals_from_accounts(totals)


def totals_from_accounts(totals: Mapping[str, int]) -> ProgramTotals:
    """The overview's figures from the ledger's account sums and counts (as
    ``VerificationRepo.totals`` reads them): program accounts with the overview's signs."""
    return {
        "liability": int(totals.get("liability", 0)),
        # program accounts are the other side of member postings: issued is a credit source
        "issued": -int(totals.get("issued", 0)),
        "redeemed": int(totals.get("redeemed", 0)),
        "expired": int(totals.get("breakage", 0)),
        "adjustments": -int(totals.get("adjustments", 0)),
        "members": int(totals.get("members", 0)),
        "entries": int(totals.get("entries", 0)),
    }
