"""The demo program on a scratch database, ready to be served: what ``scripts.screenshots``
renders and ``bench.bench_pages`` times. Built with the demo builder that ``kopilka demo``
runs, plus an API key for each console role and the member and receipt the pages show."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from kopilka.app import Kopilka, build, upgrade_database
from kopilka.demo.builder import build_demo
from kopilka.demo.model import DemoConfig
from kopilka.domain.clock import FrozenClock, SystemClock
from kopilka.domain.identifiers import normalize_phone
from kopilka.services import apikeys
from kopilka.settings import Settings, load_settings
from scripts.inbox import Inbox

ROLES = ("support", "marketer", "analyst")


@dataclass
class Site:
    """A wired Kopilka on the demo program, and what signing in and the pages need."""

    kopilka: Kopilka
    program: str
    card: str
    phone: str
    member_id: int
    receipt_id: str
    keys: dict[str, str] = field(default_factory=dict)
    # where the member's sign-in codes arrive while it is installed (``inbox.installed()``)
    inbox: Inbox = field(default_factory=Inbox)

    def code(self) -> str:
        """The newest sign-in code sent to the member's phone (the inbox installed)."""
        code = self.inbox.code(normalize_phone(self.phone))
        if code is None:
            raise RuntimeError(f"no sign-in code was sent to {self.phone}")
        return code


def add_keys(kopilka: Kopilka, program: str, keys: dict[str, str]) -> None:
    """A key for each console role ``keys`` has none for (the demo makes pos and admin)."""
    for role in (*ROLES, "admin"):
        if role not in keys:
            _, keys[role] = apikeys.create_key(kopilka.services, program, role, f"{role} desk")


def site_settings(url: str) -> Settings:
    """Settings for a scratch site at ``url``: a session secret of its own, made now."""
    return load_settings(
        database_url=url,
        secret_key=secrets.token_urlsafe(32),
        environment="test",
        sqlite_synchronous="NORMAL",
    )


def demo_site(url: str, members: int = 300, seed: int = 20260314) -> Site:
    """Build the demo program (``members`` members, 18 months of history) in the fresh
    database at ``url`` and wire a Kopilka on it, its clock the real one."""
    settings = site_settings(url)
    upgrade_database(url)
    clock = FrozenClock(SystemClock().now())
    builder = build(settings, clock=clock)
    try:
        result = build_demo(builder, clock, DemoConfig(members=members, seed=seed))
    finally:
        builder.close()
    kopilka = build(settings)
    # the member the portal shows: one with a phone (to sign in) and receipts (to show)
    person = next(p for p in result.people if p.phone and p.receipts)
    site = Site(
        kopilka,
        result.program.code,
        person.card,
        str(person.phone),
        person.member_id,
        next(iter(person.receipts)),
        dict(result.api_keys),
    )
    add_keys(kopilka, site.program, site.keys)
    return site
