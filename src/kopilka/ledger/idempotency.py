"""Idempotency keys: one key has at most one effect.

The same key with the same request returns the stored result; with a different request
it is an :class:`IdempotencyConflict`. A request that failed with a business error stays
failed under its key: the retry gets the same error, never a different outcome. The key
is stored in the same transaction as the effect, so a crash leaves neither.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from kopilka.domain.errors import IdempotencyConflict, KopilkaError, ValidationError

MAX_KEY_LENGTH = 255


class StoredOutcome(Protocol):
    operation: str
    request_hash: str
    succeeded: bool
    response: dict[str, Any]


class IdempotencyStore(Protocol):
    def get(self, program_id: int, key: str) -> StoredOutcome | None: ...

    def put(
        self,
        program_id: int,
        key: str,
        operation: str,
        request_hash: str,
        succeeded: bool,
        response: dict[str, Any],
        at: datetime,
    ) -> bool:
        """Store the outcome; False if the key was taken meanwhile."""
        ...


U = TypeVar("U")


def request_hash(operation: str, request: dict[str, Any]) -> str:
    """A stable fingerprint of an operation and its request body."""
    canonical = json.dumps([operation, request], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"idempotency key must be 1-{MAX_KEY_LENGTH} characters", field="idempotency_key"
        )
    return key


def replay(stored: StoredOutcome, operation: str, digest: str) -> dict[str, Any]:
    """The stored outcome for a repeated key: its result, or its error raised again."""
    if stored.operation != operation or stored.request_hash != digest:
        raise IdempotencyConflict(
            "this idempotency key was already used with a different request",
            operation=stored.operation,
        )
    if stored.succeeded:
        return dict(stored.response)
    raise KopilkaError.from_dict(stored.response)


def run_idempotent(
    open_uow: Callable[[], Any],
    store_of: Callable[[Any], IdempotencyStore],
    program_id: int,
    key: str,
    operation: str,
    request: dict[str, Any],
    now: datetime,
    effect: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """Run ``effect(uow)`` at most once for ``key`` and return its (stored) result.

    ``open_uow`` opens a unit of work (a context manager with ``commit()``);
    ``store_of(uow)`` gives its idempotency store.
    """
    check_key(key)
    digest = request_hash(operation, request)
    for _attempt in range(3):
        with open_uow() as uow:
            store = store_of(uow)
            stored = store.get(program_id, key)
            if stored is not None:
                return replay(stored, operation, digest)
            try:
                result = effect(uow)
            except KopilkaError as err:
                uow.rollback()
                failure = err
            else:
                if store.put(program_id, key, operation, digest, True, result, now):
                    uow.commit()
                    return result
                continue  # a concurrent request with the same key won: read its outcome
        with open_uow() as uow:
            if store_of(uow).put(program_id, key, operation, digest, False, failure.to_dict(), now):
                uow.commit()
                raise failure
    with open_uow() as uow:
        stored = store_of(uow).get(program_id, key)
        if stored is None:
            raise RuntimeError("idempotency record vanished")
        return replay(stored, operation, digest)
