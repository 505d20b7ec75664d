"""Demo API keys, when this build has the API key service (``kopilka.services.apikeys``).

Keys are stored hashed, so a secret can be shown only when its key is made. Every demo
run therefore revokes the previous demo keys and makes fresh ones, printed at the end:
whoever runs ``make demo`` again gets keys they can use.
"""

from __future__ import annotations

import importlib
from importlib.util import find_spec

from kopilka.demo.model import Demo

# (role, name, store): a till of the first shop, and the back office
DEMO_KEYS = (("pos", "demo till 1", "MSK-001"), ("admin", "demo back office", None))


def api_keys(demo: Demo) -> str:
    """Revoke the previous demo keys and make new ones (their secrets are shown once)."""
    if find_spec("kopilka.services.apikeys") is None:
        return "API keys: no key service in this build"
    service = importlib.import_module("kopilka.services.apikeys")
    names = {name for _role, name, _store in DEMO_KEYS}
    for old in service.list_keys(demo.ctx, demo.prog.code):
        if old.name in names and old.revoked_at is None:
            service.revoke_key(demo.ctx, str(old.id))
    for role, name, store in DEMO_KEYS:
        _key, secret = service.create_key(demo.ctx, demo.prog.code, role, name, store)
        demo.api_keys[role] = secret
    return f"API keys: {', '.join(demo.api_keys)} made (previous demo keys revoked)"
