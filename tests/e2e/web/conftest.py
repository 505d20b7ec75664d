"""Fixtures of the web UI tests: a world per test on each backend, and signed-in clients."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from kopilka.services.context import ServiceContext
from tests.e2e.web.world import World, build_world, client, sign_in


@pytest.fixture
def world(ctx: ServiceContext) -> World:
    return build_world(ctx)


@pytest.fixture
def anon(world: World) -> TestClient:
    """A client with no session."""
    return client(world)


@pytest.fixture
def as_role(world: World) -> Callable[[str], TestClient]:
    """A client signed in to the console with the key of a role."""

    def make(role: str) -> TestClient:
        c = client(world)
        response = sign_in(c, world.keys[role])
        assert response.status_code == 303, response.text
        return c

    return make
