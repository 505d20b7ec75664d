"""Writes whose use case is already idempotent on a key of its own (a receipt id, a
return id, an event id), run under the caller's ``Idempotency-Key`` as well.

The header key behaves as on every other write (same key and body → the first response;
same key, another body → 409). Under it, the use case keeps its own key, so a till that
retries a receipt with a fresh header key still books it once.
"""

from __future__ import annotations

from typing import Any

from kopilka.services.audit_log import Effect, recorded_write
from kopilka.services.context import ServiceContext


def keyed_write(
    ctx: ServiceContext,
    program_id: int,
    *,
    header_key: str,
    own_key: str,
    operation: str,
    request: dict[str, Any],
    effect: Effect,
) -> dict[str, Any]:
    """Run ``effect`` under ``header_key``; ``own_key``, ``operation`` and ``request`` are
    the ones the use case records itself."""
    if header_key == own_key:
        # the use case records this very key, operation and request in the same
        # transaction; a second record under it would collide, and adds nothing
        return effect(ctx)
    return recorded_write(
        ctx, program_id, key=header_key, operation=operation, request=request, effect=effect
    )
