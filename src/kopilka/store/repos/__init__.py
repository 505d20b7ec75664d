"""Repositories: the only place that writes SQL."""

from __future__ import annotations

from typing import Any


def new_id(result: Any) -> int:
    """The primary key of the row an INSERT created."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("INSERT returned no primary key")
    return int(key[0])
