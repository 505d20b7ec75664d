"""The API key cache (``apikeys.authenticate``) is held per engine and goes with it.

Keyed by ``id(engine)``, an engine built at the address of a disposed one could be
answered from the old engine's keys for up to ``AUTH_CACHE_SECONDS``."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from kopilka.domain.clock import FrozenClock
from kopilka.services import apikeys
from kopilka.services import programs as program_svc
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine
from kopilka.store.migrate import upgrade
from tests.conftest import START


def _services(path: Path) -> ServiceContext:
    url = f"sqlite:///{path}"
    upgrade(url)
    return ServiceContext(make_engine(url), FrozenClock(START))


def test_a_key_is_remembered_by_its_own_engine_only(tmp_path: Path) -> None:
    first, second = _services(tmp_path / "a.db"), _services(tmp_path / "b.db")
    try:
        program_svc.create_program(first, program_svc.CreateProgram("shop"))
        _key, presented = apikeys.create_key(first, "shop", "support", "Desk")
        assert apikeys.authenticate(first, presented).name == "Desk"
        assert apikeys.recently_verified(first, presented) is not None
        assert apikeys.recently_verified(second, presented) is None
        with pytest.raises(apikeys.Unauthenticated):
            apikeys.authenticate(second, presented)
    finally:
        first.engine.dispose()
        second.engine.dispose()


def test_an_engines_keys_are_forgotten_with_it(tmp_path: Path) -> None:
    """The cache neither keeps a disposed engine alive nor keeps its keys after it."""
    services = _services(tmp_path / "k.db")
    program_svc.create_program(services, program_svc.CreateProgram("shop"))
    _key, presented = apikeys.create_key(services, "shop", "support", "Desk")
    apikeys.authenticate(services, presented)
    gone = weakref.ref(services.engine)
    assert services.engine in apikeys._AUTH_CACHE
    services.engine.dispose()
    del services
    gc.collect()
    assert gone() is None
    assert all(
        (key.prefix, key.name) != (_key.prefix, "Desk")
        for entries in apikeys._AUTH_CACHE.values()
        for _expiry, key in entries.values()
    )
