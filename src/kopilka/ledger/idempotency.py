"""Idempotency keys: one key has at most one effect.

The same key with the same request returns the stored result; with a different request
it is an :class:`IdempotencyConflict`. A request that failed with a business error stays
failed under its key: the retry gets the same error, never a different outcome. The key
is stored in the same transaction as the effect, so a crash leaves neither.

Stored keys live in two namespaces that cannot meet:

* a key given from outside (an API caller's ``Idempotency-Key``, a console or portal
  form's key, ``kopilka points --key``) is stored as ``caller:<caller>:<key>``
  (:func:`caller_key`), where ``<caller>`` names who gave it (an API key's id, ``member-<id>``
  for the portal, ``cli``) and has no colon: the same key from two callers is two keys;
* a key Kopilka makes itself never starts with ``caller:``: ``purchase:<receipt id>``,
  ``return:<receipt id>:<return id>``, ``event:<event id>``, ``import:<kind>:<sha256>``,
  ``demo:...``; and the API, the importer, the CLI and the console book a receipt under
  the same ``purchase:<receipt id>``, so it is booked once whoever books it.

So no caller can take the key of a receipt, a return or an event, nor replay another
caller's outcome.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from kopilka.domain.errors import IdempotencyConflict, KopilkaError, ValidationError
from kopilka.domain.messages import msg

# what an operation is fingerprinted from and what it stores as its outcome: a JSON object
JsonObject = dict[str, Any]

MAX_KEY_LENGTH = 255
MAX_CALLER_KEY_LENGTH = 200
CALLER_PREFIX = "caller:"
# what a caller may send: printable ASCII without spaces (as an HTTP header's token), so
# ``<key> adjust`` (services.back_office) is never a caller's own key
_CALLER_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_CALLER_KEY_LENGTH}}}")
# the callers there are; none has a colon, and none is ``legacy`` (migration 0008
# moved the callers' keys stored before namespacing under ``caller:legacy:``)
_CALLER = re.compile(r"[0-9]{1,20}|member-[0-9]{1,20}|cli")


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


def caller_key(caller: str, key: str) -> str:
    """The stored key of ``key`` given from outside by ``caller`` (an API key's id,
    ``member-<id>``, ``cli``): ``caller:<caller>:<key>``, a namespace no key Kopilka makes
    itself starts with, one per caller. ``key`` must be 1-200 printable ASCII characters
    without spaces (a ``ValidationError`` otherwise)."""
    if not _CALLER.fullmatch(caller):
        raise ValueError(f"not a caller: {caller!r}")  # a programming error, not input
    if not isinstance(key, str) or not _CALLER_KEY.fullmatch(key):
        raise ValidationError(
            f"idempotency key must be 1-{MAX_CALLER_KEY_LENGTH} printable ASCII characters"
            " without spaces",
            field="idempotency_key",
        )
    return f"{CALLER_PREFIX}{caller}:{key}"


def replay(stored: StoredOutcome, operation: str, digest: str) -> dict[str, Any]:
    """The stored outcome for a repeated key: its result, or its error raised again."""
    if stored.operation != operation or stored.request_hash != digest:
        raise IdempotencyConflict(
            msg("this idempotency key was already used with a different request"),
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
    *,
    digest: str | None = None,
) -> dict[str, Any]:
    """Run ``effect(uow)`` at most once for ``key`` and return its (stored) result.

    ``open_uow`` opens a unit of work (a context manager with ``commit()``);
    ``store_of(uow)`` gives its idempotency store. ``digest`` is
    ``request_hash(operation, request)`` when the caller computed it already.
    """
    check_key(key)
    digest = digest or request_hash(operation, request)
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
        _record_failure(open_uow, store_of, program_id, key, operation, digest, failure, now)
    return _replay_stored(open_uow, store_of, program_id, key, operation, digest)


def _record_failure(
    open_uow: Callable[[], Any],
    store_of: Callable[[Any], IdempotencyStore],
    program_id: int,
    key: str,
    operation: str,
    digest: str,
    failure: KopilkaError,
    now: datetime,
) -> None:
    """Store ``failure`` under ``key`` in a transaction of its own and raise it; returns
    only if a concurrent request stored an outcome under the key first."""
    with open_uow() as uow:
        if store_of(uow).put(program_id, key, operation, digest, False, failure.to_dict(), now):
            uow.commit()
            raise failure


def _replay_stored(
    open_uow: Callable[[], Any],
    store_of: Callable[[Any], IdempotencyStore],
    program_id: int,
    key: str,
    operation: str,
    digest: str,
) -> dict[str, Any]:
    """The outcome stored under ``key`` after every attempt lost a race for it."""
    with open_uow() as uow:
        stored = store_of(uow).get(program_id, key)
    if stored is None:
        raise RuntimeError("idempotency record vanished")
    return replay(stored, operation, digest)


class KeyedStore(IdempotencyStore, Protocol):
    """A store that reads and writes several keys in one round trip each."""

    def get_many(self, program_id: int, keys: Sequence[str]) -> dict[str, StoredOutcome]: ...

    def put_pair(
        self,
        program_id: int,
        keys: tuple[str, str],
        operation: str,
        request_hash: str,
        response: dict[str, Any],
        at: datetime,
    ) -> int:
        """Store a success under both keys; returns how many were new (2 unless a
        concurrent request took one meanwhile)."""
        ...


def run_idempotent_keyed(
    open_uow: Callable[[], Any],
    store_of: Callable[[Any], KeyedStore],
    program_id: int,
    caller_key: str,
    key: str,
    operation: str,
    request: dict[str, Any],
    now: datetime,
    effect: Callable[[Any], dict[str, Any]],
    *,
    digest: str | None = None,
) -> dict[str, Any]:
    """``run_idempotent`` under two keys at once: the caller's (an ``Idempotency-Key``
    header) and the use case's own (``purchase:<receipt id>``), read in one query and
    written in one statement, in the effect's own transaction.

    It answers exactly as the caller's key wrapped around the use case's key did:

    * the caller's key already used: its outcome (another request → conflict);
    * the own key already used (a retried receipt under a fresh caller key): the own
      key's outcome, which the caller's key then records too; the effect is not run;
    * neither: the effect runs; a success is stored under both keys, a failure under
      the caller's key only (so the receipt may still be booked under another key).
    """
    if caller_key == key:
        return run_idempotent(
            open_uow, store_of, program_id, key, operation, request, now, effect, digest=digest
        )
    check_key(caller_key)
    check_key(key)
    digest = digest or request_hash(operation, request)
    failure: KopilkaError | None = None
    for _attempt in range(3):
        with open_uow() as uow:
            store = store_of(uow)
            found = store.get_many(program_id, (caller_key, key))
            mine = found.get(caller_key)
            if mine is not None:
                return replay(mine, operation, digest)
            own = found.get(key)
            try:
                result = replay(own, operation, digest) if own is not None else effect(uow)
            except KopilkaError as err:
                uow.rollback()
                failure = err
            else:
                if own is not None:
                    stored = store.put(program_id, caller_key, operation, digest, True, result, now)
                else:
                    stored = (
                        store.put_pair(
                            program_id, (caller_key, key), operation, digest, result, now
                        )
                        == 2
                    )
                if stored:
                    uow.commit()
                    return result
                continue  # a concurrent request took a key: read its outcome
        assert failure is not None
        _record_failure(open_uow, store_of, program_id, caller_key, operation, digest, failure, now)
    return _replay_stored(open_uow, store_of, program_id, caller_key, operation, digest)
