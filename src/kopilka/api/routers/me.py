"""The caller: which key, role, store and program, and what it may do."""

from __future__ import annotations

from fastapi import APIRouter

from kopilka.api.deps import CurrentKey
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.admin import Caller

router = APIRouter(prefix=V1, tags=["caller"])


@router.get("/me", response_model=Caller, responses=responses("unauthorized"))
def me(key: CurrentKey) -> Caller:
    """The API key making the request and its permissions."""
    return Caller(
        key_id=key.id,
        name=key.name,
        role=str(key.role),
        store=key.store_code,
        program=key.program.code,
        permissions=sorted(key.permissions),
    )
