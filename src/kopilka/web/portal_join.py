"""The portal's "Join the program": a visitor gives a phone or an e-mail address and their
answers to the consents, types the 6-digit code sent there, and is enrolled and signed in
(``services/self_enrolment.py``).

The code goes to any address typed, so the page after the form tells nobody whether a
member has it; only once the code proved the address is the visitor's does the next page
say it belongs to a membership (and to sign in instead). Codes sent and wrong codes are
limited as at sign-in, with the same counts (``Area.code_wait``, ``Area.sign_in_wait``).
Only programs whose portal settings allow self-enrolment are offered.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from kopilka.domain.errors import (
    CodeRefused,
    DuplicateIdentifier,
    PermissionDenied,
    ValidationError,
)
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.one_time_codes import CODE_TTL, read_address
from kopilka.domain.portal import REQUIRED_CONSENT
from kopilka.domain.program import Program
from kopilka.services import members as member_svc
from kopilka.services import one_time_codes as codes_svc
from kopilka.services import portal_settings as settings_svc
from kopilka.services import programs as program_svc
from kopilka.services import self_enrolment as join_svc
from kopilka.services.context import ServiceContext
from kopilka.web import words
from kopilka.web.guard import Area, code_wait_message, wait_message
from kopilka.web.i18n import N_, language, ngettext, tr
from kopilka.web.render import RENDERER, Form, Refused, problem_text, redirect

JOIN_PAGE = "/portal/join"
JOIN_CODE_PAGE = "/portal/join/code"
NOT_OPEN = N_("This program does not take sign-ups online. Ask for a card at the till.")
NEEDS_CONSENT = N_("To join, agree to the processing of your personal data.")
ALREADY = N_("This phone or e-mail already belongs to a membership. Sign in with it instead.")


def open_programs(ctx: ServiceContext) -> list[Program]:
    """The programs a visitor may join in the portal."""
    return settings_svc.open_to_join(ctx)


def code_entry_page(
    area: Area,
    request: Request,
    template: str,
    step: str,
    back: str,
    status: int = 200,
    error: str | None = None,
    ended: bool = False,
) -> Response:
    """The page where a one-time code is typed (signing in or joining): the address it
    went to (masked) and how long it lasts; without the session's ``step`` (no code was
    asked for), back to ``back``."""
    session = area.session(request)
    if session is None or step not in session.data:
        return redirect(back)
    data = session.data
    return RENDERER.page(
        template,
        status,
        area="portal",
        csrf=area.csrf(session),
        error=error,
        ended=ended,
        sent_to=data.get("sent_to", ""),
        by_sms=data.get("channel") == "sms",
        minutes=CODE_TTL // timedelta(minutes=1),
    )


def add_join_routes(
    router: APIRouter, ctx: ServiceContext, area: Area, address_identity: Any
) -> None:
    """The join pages, on the portal's router and with its sessions and throttles;
    ``address_identity`` is how the throttles count an address (``web/portal.py``)."""

    def join_page(
        request: Request, status: int = 200, error: str | None = None, **form: Any
    ) -> Response:
        programs = open_programs(ctx)
        if not programs:
            raise Refused(404, tr(NOT_OPEN))
        session = area.anonymous(request)
        response = RENDERER.page(
            "portal_join.html",
            status,
            area="portal",
            csrf=area.csrf(session),
            error=error,
            programs=programs,
            purposes=[(p, words.purpose(p)) for p in member_svc.CONSENT_PURPOSES],
            required=REQUIRED_CONSENT,
            ticked=form.get("consents", frozenset()),
            form=form,
        )
        area.store(response, session, request)
        return response

    @router.get("/join")
    def join_form(request: Request) -> Response:
        """The form: the program (when several take sign-ups), the phone or e-mail, the
        consents (personal data required)."""
        return join_page(request)

    @router.post("/join")
    def send_join_code(request: Request, form: Form) -> Response:
        """Check the form (nothing sent on a refusal), send the code, then ask for it."""
        area.check_csrf(request, form)
        programs = open_programs(ctx)
        chosen, typed = form.get("program", ""), form.get("address", "")
        given = frozenset(p for p in member_svc.CONSENT_PURPOSES if form.get(f"consent_{p}"))
        kept: dict[str, Any] = {"program": chosen, "address": typed, "consents": given}
        program = next((p for p in programs if p.code == chosen), None)
        if program is None and not chosen and len(programs) == 1:
            program = programs[0]  # the form names no program when only one is offered
        if program is None:
            return join_page(request, 422, tr(N_("Choose your program.")), **kept)
        try:
            kind, address = read_address(typed)
            join_svc.check_consents(given)
        except ValidationError as e:
            text = tr(NEEDS_CONSENT) if e.details.get("field") == REQUIRED_CONSENT else None
            return join_page(request, 422, text or problem_text(e.code, e.message), **kept)
        identity = address_identity(program.id, address)
        wait = area.sign_in_wait(request, identity)
        if wait is not None:
            response = join_page(request, 429, wait_message(wait), **kept)
            response.headers["Retry-After"] = str(wait)
            return response
        wait = area.code_wait(request, identity)
        if wait is not None:
            response = join_page(request, 429, code_wait_message(wait), **kept)
            response.headers["Retry-After"] = str(wait)
            return response
        command = codes_svc.SendCode(kind, address, language())
        try:
            sent = join_svc.send_join_code(ctx, program, command)
        except PermissionDenied:
            return join_page(request, 403, tr(NOT_OPEN), **kept)
        area.code_sent(request, identity)
        response = redirect(JOIN_CODE_PAGE)
        # the address stays in the visitor's own signed cookie until the code is typed: the
        # enrolment needs it, and the code's row keeps only its digest
        pending = {
            "join": sent["challenge_id"],
            "program_id": program.id,
            "identity": identity,
            "channel": sent["channel"],
            "sent_to": sent["sent_to"],
            "kind": str(kind),
            "address": address,
            "consents": sorted(given),
        }
        area.store(response, area.start(pending), request)
        return response

    def code_page(
        request: Request, status: int = 200, error: str | None = None, ended: bool = False
    ) -> Response:
        return code_entry_page(
            area, request, "portal_join_code.html", "join", JOIN_PAGE, status, error, ended
        )

    @router.get("/join/code")
    def join_code_form(request: Request) -> Response:
        """Where the code is typed: the address it went to (masked), how long it lasts."""
        return code_page(request)

    @router.post("/join/code")
    def join(request: Request, form: Form) -> Response:
        """Check the code and enroll the visitor, then sign them in; or say why not (a
        wrong code with the tries left; an address a member has: sign in instead)."""
        session = area.check_csrf(request, form)
        data = session.data
        if "join" not in data:
            return redirect(JOIN_PAGE)
        identity = str(data.get("identity", ""))
        wait = area.sign_in_wait(request, identity)
        if wait is not None:
            response = code_page(request, 429, wait_message(wait))
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            program = program_svc.get_program(ctx, int(data["program_id"]))
            command = join_svc.Join(
                challenge_id=str(data["join"]),
                code=form.get("code", ""),
                kind=IdentifierKind(str(data["kind"])),
                address=str(data["address"]),
                consents=frozenset(str(p) for p in data.get("consents", ())),
                language=language(),
            )
            joined = join_svc.join(ctx, program, command)
        except CodeRefused as e:
            area.sign_in_failed(request, identity)
            text = problem_text(e.code, e.message)
            left = int(e.details.get("attempts_left", 0))
            if e.details.get("verdict") == "wrong":
                tries = ngettext("%(num)s try left.", "%(num)s tries left.", left)
                text = f"{text} {tries % {'num': left}}"
            return code_page(request, 401, text, ended=e.details.get("verdict") != "wrong")
        except DuplicateIdentifier:
            return code_page(request, 409, tr(ALREADY), ended=True)
        except PermissionDenied:
            return code_page(request, 403, tr(NOT_OPEN), ended=True)
        area.sign_in_succeeded(identity)
        response = redirect("/portal?done=joined")
        signed = {"program_id": program.id, "member_id": joined["member_id"]}
        area.store(response, area.start(signed), request)
        return response
