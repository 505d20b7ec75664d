"""What every use case needs: a way to open units of work, and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from kopilka.domain.clock import Clock, SystemClock
from kopilka.ledger.idempotency import run_idempotent, run_idempotent_keyed
from kopilka.store.uow import UnitOfWork


@dataclass
class ServiceContext:
    """Built once by the composition root (``kopilka.app``) and passed to every service."""

    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    # False only in the control test that shows the race the row locks prevent
    lock_rows: bool = True

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(self.engine, read_only=read_only, lock_rows=self.lock_rows)

    def now(self) -> datetime:
        return self.clock.now()

    def idempotent(
        self,
        program_id: int,
        key: str,
        operation: str,
        request: dict[str, Any],
        effect: Callable[[UnitOfWork], dict[str, Any]],
        *,
        caller_key: str | None = None,
        digest: str | None = None,
    ) -> dict[str, Any]:
        """Run ``effect`` in a unit of work at most once for ``key`` (see ledger.idempotency);
        with ``caller_key`` (an API caller's Idempotency-Key), at most once for either.
        ``digest``: ``request_hash(operation, request)``, when the caller has it already."""
        if caller_key is not None:
            return run_idempotent_keyed(
                self.uow,
                lambda u: u.idempotency,
                program_id,
                caller_key,
                key,
                operation,
                request,
                self.now(),
                effect,
                digest=digest,
            )
        return run_idempotent(
            self.uow,
            lambda u: u.idempotency,
            program_id,
            key,
            operation,
            request,
            self.now(),
            effect,
            digest=digest,
        )
