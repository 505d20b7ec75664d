"""Fixtures of the notification tests: a member with an e-mail address and a phone, with
or without marketing consents, and a sender that keeps what it was given."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from kopilka.domain.notifications import Channel
from kopilka.domain.program import Program
from kopilka.services import members as member_svc
from kopilka.services.context import ServiceContext
from kopilka.services.notifications import Outgoing, Sender


@pytest.fixture
def enroll(ctx: ServiceContext) -> Callable[..., int]:
    """Enroll a member with an e-mail address and a phone; ``consents``: purposes granted,
    ``attributes``: the profile's attributes (``language``)."""

    def make(
        program: Program,
        *,
        consents: tuple[str, ...] = (),
        email: bool = True,
        phone: bool = True,
        **profile: Any,
    ) -> int:
        tag = uuid.uuid4().hex[:10]
        pairs = [("card", f"C{tag.upper()}")]
        if email:
            pairs.append(("email", f"anna.{tag}@example.org"))
        if phone:
            pairs.append(("phone", f"+7916{int(tag[:7], 16) % 10_000_000:07d}"))
        command = member_svc.Enroll(
            member_svc.identifiers(pairs),
            profile=member_svc.Profile(**profile),
            consents=tuple(member_svc.ConsentChoice(p) for p in consents),
        )
        return member_svc.enroll(ctx, program, command).id

    return make


class Keeper:
    """A sender that keeps every message it is given (or fails as told)."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.fail: Exception | None = None

    def send(self, message: Outgoing) -> str | None:
        if self.fail is not None:
            raise self.fail
        self.sent.append(message)
        return f"kept-{len(self.sent)}"

    def pick(self, channel: Channel) -> Sender:
        return self


@pytest.fixture
def keeper() -> Keeper:
    return Keeper()
