"""Who is asking: the signed-in operator (admin console) or member (portal), and the
checks every request passes: a valid session, the role's permission, the CSRF token.

The console's permissions are the API's (:data:`kopilka.services.apikeys.PERMISSIONS`):
an operator signs in with an API key and can do in the console what the key can do
through the API, publishing and previewing rules included (``rules:publish``).
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.ledger.idempotency import caller_key
from kopilka.services.apikeys import ApiKey, Permission, Role, active_key
from kopilka.services.context import ServiceContext
from kopilka.settings import Settings
from kopilka.web.i18n import ngettext, tr
from kopilka.web.render import RENDERER, Refused, SignInRequired
from kopilka.web.session import Session, SessionSigner
from kopilka.web.throttle import SignInThrottle
from kopilka.web.words import role as role_word

log = logging.getLogger("kopilka.web")

CONSOLE_ROLES = frozenset({Role.SUPPORT, Role.MARKETER, Role.ANALYST, Role.ADMIN})
CSRF_FIELD = "csrf_token"
KEY_FIELD = "idempotency_key"


def new_idempotency_key() -> str:
    """One per rendered form: submitting the same form twice has one effect."""
    return f"web-{secrets.token_hex(16)}"


def form_key(form: dict[str, str], caller: str) -> str:
    """The idempotency key a writing form was rendered with, as stored: scoped to
    ``caller`` (the operator's API key id, ``member-<id>`` in the portal), since the
    browser sends it and could send any (``ledger.idempotency.caller_key``)."""
    key = form.get(KEY_FIELD, "").strip()
    if not key:
        raise ValidationError(
            tr("the form has no idempotency key; reload the page"), field=KEY_FIELD
        )
    return caller_key(caller, key)


class Area:
    """The sessions of one part of the UI (its cookie, signer and sign-in page), and the
    count of its failed sign-ins (:mod:`kopilka.web.throttle`)."""

    def __init__(self, ctx: ServiceContext, settings: Settings, name: str) -> None:
        self.ctx = ctx
        self.name = name
        self.signer = SessionSigner(settings.secret_key, name)
        self.throttle = SignInThrottle(settings.sign_in_limit, settings.sign_in_store, name)
        # the one-time codes sent (the portal): every code counts, not only failures
        self.codes = SignInThrottle(
            settings.sign_in_code_limit, settings.sign_in_store, f"{name}-codes"
        )
        self.cookie = f"kopilka_{name}"
        self.path = f"/{name}"
        self.sign_in = f"/{name}/sign-in"

    def session(self, request: Request) -> Session | None:
        return self.signer.load(request.cookies.get(self.cookie), self.ctx.now())

    def start(self, data: dict[str, Any] | None = None) -> Session:
        """A new session (new nonce, so a token made before signing in is void after)."""
        return self.signer.new(self.ctx.now(), data)

    def anonymous(self, request: Request) -> Session:
        """The visitor's current session, or a new anonymous one (for the sign-in form)."""
        return self.session(request) or self.start()

    def store(self, response: Response, session: Session, request: Request) -> None:
        response.set_cookie(
            self.cookie,
            self.signer.dump(session),
            max_age=int(session.expires - self.ctx.now().timestamp()),
            path=self.path,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def forget(self, response: Response) -> None:
        response.delete_cookie(self.cookie, path=self.path, httponly=True, samesite="lax")

    def sign_in_page(
        self,
        request: Request,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        **context: Any,
    ) -> Response:
        """The area's sign-in form, with a token bound to the visitor's (anonymous) session;
        with ``retry_after``, refusing a throttled sign-in (:meth:`sign_in_wait`)."""
        session = self.anonymous(request)
        if retry_after is not None:
            status, error = 429, wait_message(retry_after)
        response = RENDERER.page(
            f"{self.name}_sign_in.html",
            status,
            area=self.name,
            csrf=self.csrf(session),
            error=error,
            **context,
        )
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        self.store(response, session, request)
        return response

    def sign_in_wait(self, request: Request, identity: str | None = None) -> int | None:
        """Seconds before this client, or anyone trying ``identity``, may try to sign in
        again; None: now."""
        wait = self.throttle.retry_after(client_address(request), identity)
        if wait is not None:  # neither the address nor the identity: personal data
            log.warning("%s sign-in refused after too many failures", self.name)
        return wait

    def code_wait(self, request: Request, identity: str) -> int | None:
        """Seconds before this client, or anyone for ``identity``, may be sent another
        one-time code; None: now."""
        wait = self.codes.retry_after(client_address(request), identity)
        if wait is not None:  # neither the address nor the identity: personal data
            log.warning("%s sign-in code refused after too many codes", self.name)
        return wait

    def code_sent(self, request: Request, identity: str) -> None:
        self.codes.failed(client_address(request), identity)

    def sign_in_failed(self, request: Request, identity: str | None = None) -> None:
        self.throttle.failed(client_address(request), identity)

    def sign_in_succeeded(self, identity: str) -> None:
        self.throttle.succeeded(identity)

    def csrf(self, session: Session) -> str:
        return self.signer.csrf_token(session)

    def check_csrf(self, request: Request, form: dict[str, str]) -> Session:
        """The session a POST belongs to; 403 unless it carries that session's token."""
        session = self.session(request)
        if not self.signer.csrf_ok(session, form.get(CSRF_FIELD)):
            raise Refused(
                403,
                tr(
                    "This form has expired or did not come from this site. "
                    "Reload the page and try again."
                ),
            )
        assert session is not None
        return session


def client_address(request: Request) -> str:
    """The address the request came from: behind a reverse proxy, the proxy's, unless
    KOPILKA_FORWARDED_ALLOW_IPS names it (``kopilka.api.supervise.uvicorn_options``)."""
    return request.client.host if request.client else "unknown"


def wait_message(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    if seconds < 60:
        text = ngettext(
            "Too many failed sign-ins. Try again in %(num)s second.",
            "Too many failed sign-ins. Try again in %(num)s seconds.",
            seconds,
        )
        return text % {"num": seconds}
    text = ngettext(
        "Too many failed sign-ins. Try again in %(num)s minute.",
        "Too many failed sign-ins. Try again in %(num)s minutes.",
        minutes,
    )
    return text % {"num": minutes}


def code_wait_message(seconds: int) -> str:
    """Refusing to send another one-time code, with how long to wait."""
    if seconds < 60:
        text = ngettext(
            "Too many codes were asked for. Try again in %(num)s second.",
            "Too many codes were asked for. Try again in %(num)s seconds.",
            seconds,
        )
        return text % {"num": seconds}
    minutes = math.ceil(seconds / 60)
    text = ngettext(
        "Too many codes were asked for. Try again in %(num)s minute.",
        "Too many codes were asked for. Try again in %(num)s minutes.",
        minutes,
    )
    return text % {"num": minutes}


@dataclass(frozen=True, slots=True)
class Operator:
    """A signed-in console user: their API key (never its secret) and their form token."""

    key: ApiKey
    csrf: str

    @property
    def program(self) -> Program:
        return self.key.program

    @property
    def role(self) -> Role:
        return self.key.role

    @property
    def caller(self) -> str:
        """Whose form keys these are: the API key's, as its Idempotency-Keys are."""
        return str(self.key.id)

    def can(self, permission: Permission) -> bool:
        return permission in self.key.permissions

    @property
    def can_publish(self) -> bool:
        return self.can(Permission.RULES_PUBLISH)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Refused(
                403,
                tr(
                    "Your role (%(role)s) may not do this (%(permission)s).",
                    role=role_word(self.role),
                    permission=permission,
                ),
            )

    def require_publish(self) -> None:
        if not self.can_publish:
            raise Refused(
                403,
                tr(
                    "Your role (%(role)s) may not publish or preview rules.",
                    role=role_word(self.role),
                ),
            )


def operator(area: Area, request: Request) -> Operator:
    """The signed-in operator, or a redirect to sign in (also once the key is revoked)."""
    session = area.session(request)
    key_id = session.data.get("key_id") if session else None
    key = active_key(area.ctx, int(key_id)) if isinstance(key_id, int) else None
    if session is None or key is None or key.role not in CONSOLE_ROLES:
        raise SignInRequired(area.sign_in)
    op = Operator(key, area.csrf(session))
    # a refusal later in this request (not found, not allowed) is answered with the menu
    # and the sign-out, so the page is not a dead end
    request.state.operator = op
    return op
