"""Creating and configuring programs."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from kopilka.domain.errors import ConflictError, NotFoundError, ValidationError
from kopilka.domain.expiry import ExpiryKind, ExpiryPolicy
from kopilka.domain.money import Rounding
from kopilka.domain.program import NegativeBalancePolicy, Program, RestorePolicy
from kopilka.services.context import ServiceContext


def build_program(program_id: int, spec: dict[str, Any]) -> Program:
    """A Program from plain settings (CLI flags, API body, demo file), validated."""
    try:
        return Program(
            id=program_id,
            code=str(spec["code"]),
            name=str(spec.get("name") or spec["code"]),
            currency=str(spec.get("currency", "RUB")),
            point_value_minor=int(spec.get("point_value_minor", 100)),
            rounding=Rounding(spec.get("rounding", "down")),
            timezone=str(spec.get("timezone", "UTC")),
            expiry=ExpiryPolicy(
                ExpiryKind(spec.get("expiry_kind", "never")), int(spec.get("expiry_n", 0))
            ),
            activation_delay=timedelta(days=float(spec.get("activation_delay_days", 0))),
            negative_balance=NegativeBalancePolicy(spec.get("negative_balance", "forgive")),
            restore_policy=RestorePolicy(spec.get("restore_policy", "expire")),
            hold_ttl=timedelta(seconds=int(spec.get("hold_ttl_seconds", 900))),
        )
    except KeyError as e:
        raise ValidationError(f"{e.args[0]} is required", field=str(e.args[0])) from None
    except (ValueError, TypeError) as e:
        raise ValidationError(f"invalid program settings: {e}") from None


def create_program(ctx: ServiceContext, spec: dict[str, Any]) -> Program:
    """Register a new program; its code must be unique."""
    draft = build_program(0, spec)
    with ctx.uow() as uow:
        if any(p.code == draft.code for p in uow.programs.list()):
            raise ConflictError(f"program {draft.code!r} already exists", program=draft.code)
        program_id = uow.programs.add(draft, ctx.now())
        uow.commit()
    return build_program(program_id, spec)


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
    with ctx.uow(read_only=True) as uow:
        return uow.programs.list()


def set_restore_policy(ctx: ServiceContext, code_or_id: str | int, policy: str) -> Program:
    """Change what a program's returns do with spent points whose lot has expired (see
    :class:`RestorePolicy`), for the returns made from now on: a program created when
    ``reissue`` was the default moves to the domain's rule, ``expire``, this way. Servers
    see the change within their API key cache's few seconds."""
    try:
        value = RestorePolicy(policy)
    except ValueError:
        raise ValidationError(
            "restore policy must be expire or reissue", field="restore_policy"
        ) from None
    program = replace(get_program(ctx, code_or_id), restore_policy=value)
    with ctx.uow() as uow:
        uow.programs.update(program)
        uow.commit()
    return program
