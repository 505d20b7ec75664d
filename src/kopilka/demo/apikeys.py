"""Demo API keys, when this build has the API key service (``kopilka.services.apikeys``).

Keys are stored hashed, so their secrets can be shown only when they are made: the demo
makes them on the run that creates the program and prints them then.
"""

from __future__ import annotations

import importlib
from importlib.util import find_spec

from kopilka.demo.builder import Demo

# (role, name, store): a till of the first shop, and the back office
DEMO_KEYS = (("pos", "demo till 1", "msk-001"), ("admin", "demo back office", None))


def api_keys(demo: Demo) -> str:
    """Create the demo's API keys on the first run (their secrets are shown once)."""
    if find_spec("kopilka.services.apikeys") is None:
        return "API keys: no key service in this build"
    if not demo.created_program:
        return "API keys: made on the first run (kopilka demo --reset makes new ones)"
    service = importlib.import_module("kopilka.services.apikeys")
    for role, name, store in DEMO_KEYS:
        _key, secret = service.create_key(demo.ctx, demo.prog.code, role, name, store)
        demo.api_keys[role] = secret
    return f"API keys: {', '.join(demo.api_keys)} created"
