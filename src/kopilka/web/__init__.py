"""The web UI, server-rendered: the admin console (``/admin``) and the member portal
(``/portal``).

Mount it with ``app.include_router(create_web_router(kopilka))``. Pages only read from
and write through ``kopilka.services`` (and ``kopilka.app``): the import contract of
``pyproject.toml`` forbids them the store (docs/architecture.md). Sessions are signed cookies
(:mod:`kopilka.web.session`), every form carries a CSRF token bound to its session and
every writing form an idempotency key made when it was rendered (:mod:`kopilka.web.guard`).
"""

from kopilka.web.routes import create_web_router

__all__ = ["create_web_router"]
