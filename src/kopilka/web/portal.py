"""The member portal: balance, pending and expiring points, history with explanations,
how to earn, the referral code, the member's own details (names, e-mail, birthday) and
consents (each given or withdrawn through a confirmation, with the history of answers).

Sign-in is by a one-time code (``services/one_time_codes.py``): the member types their
phone or e-mail, a 6-digit code goes there (SMS or e-mail, through the notifications), and
typing it back signs them in. The page after the address is the same whether or not a
member has it. Codes sent are limited per client address and per address
(``KOPILKA_SIGN_IN_CODE_LIMIT``), wrong codes count as failed sign-ins
(``KOPILKA_SIGN_IN_LIMIT``), and a code dies after 5 wrong tries or 10 minutes. A visitor
joins the program the same way (``web/portal_join.py``) where the program allows it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response

from kopilka.app import Kopilka
from kopilka.domain.errors import (
    BirthdayChangeTooSoon,
    CodeRefused,
    DuplicateIdentifier,
    KopilkaError,
    ValidationError,
)
from kopilka.domain.identifiers import IdentifierKind, mask
from kopilka.domain.member import Consent, Member
from kopilka.domain.money import currency_exponent
from kopilka.domain.one_time_codes import read_address
from kopilka.domain.program import Program
from kopilka.domain.rules.model import RuleSet
from kopilka.services import audit as audit_svc
from kopilka.services import balance_view as balance_svc
from kopilka.services import members as member_svc
from kopilka.services import offers as offers_svc
from kopilka.services import one_time_codes as codes_svc
from kopilka.services import programs as program_svc
from kopilka.services import rules as rules_svc
from kopilka.services.audit_log import Audit, recorded_write
from kopilka.services.balance_view import balance_view
from kopilka.services.context import ServiceContext
from kopilka.services.member_lookup import member_context
from kopilka.web import membership_pages, portal_join, tier_pages, words
from kopilka.web.card_codes import barcode_svg, qr_svg
from kopilka.web.guard import (
    Area,
    code_wait_message,
    form_key,
    new_idempotency_key,
    wait_message,
)
from kopilka.web.i18n import N_, date_text, datetime_text, language, ngettext, tr
from kopilka.web.members_pages import HISTORY_PAGE
from kopilka.web.portal_profile import (
    BIRTHDAY_LOCKED,
    TAKEN_EMAIL,
    ProfileForm,
    consent_meaning,
    first_day,
    profile_fields,
)
from kopilka.web.render import (
    RENDERER,
    Cursor,
    Form,
    Refused,
    SignInRequired,
    WebRoute,
    Word,
    problem_text,
    redirect,
    status_of,
)

CONSENT_DONE = {
    "withdrawn": N_("Your consent is withdrawn."),
    "granted": N_("Your consent is given."),
    "activated": N_("The offer is activated."),
    "favourites": N_("Your favourite categories are saved."),
    "joined": N_("Welcome! You are a member now: your card is below."),
}
# a consent change's confirmation page: which purpose, and which way
Purpose = Annotated[str, Query(min_length=1, max_length=64)]
Answer = Annotated[Literal["grant", "withdraw"], Query()]
CHOOSE_PROGRAM = N_("Choose your program.")
CODE_PAGE = "/portal/sign-in/code"


OFFERS_AHEAD = timedelta(days=30)  # "how to earn" shows offers running now or within this


def offers(
    ctx: ServiceContext, program: Program, member: Member, ruleset: RuleSet | None
) -> list[dict[str, Any]]:
    """The visible rules for this member (tier, segments, profile attributes and lifetime
    spend as the rules ask) that apply now or start within :data:`OFFERS_AHEAD`, each with
    the date ranges (in the program's calendar) still to come; a rule without dates is
    always on and has none."""
    now = ctx.now()
    today = now.astimezone(ZoneInfo(program.timezone)).date()
    horizon = today + OFFERS_AHEAD
    who = member_context(member)
    out: list[dict[str, Any]] = []
    personal = set(ruleset.offers) | set(ruleset.favourites) if ruleset is not None else set()
    for rule in ruleset.rules if ruleset is not None else ():
        gate = rule.gate
        if not rule.visible or not gate.member_holds(who.attributes, who.lifetime_spend_minor):
            continue
        if rule.id in personal:  # personal offers and favourites have sections of their own
            continue
        if gate.tiers is not None and who.tier not in gate.tiers:
            continue
        if gate.segments is not None and gate.segments.isdisjoint(who.segments):
            continue
        ranges: list[tuple[date, date]] = []
        if rule.gate.dates is not None:
            ranges = [(a, b) for a, b in rule.gate.dates if b >= today and a <= horizon]
            if not ranges:
                continue
        out.append(
            {
                "id": rule.id,
                "description": rule.description or rule.id,
                "dates": ranges,
                "categories": named_categories(rule.scope.categories, ruleset),
            }
        )
    return out


def offer_title(offer: offers_svc.MemberOffer) -> str:
    """What a personal offer is called on the page: a reward offer's name in the page's
    language, a rule offer's description (its id when it has none)."""
    name = offer["name"]
    if name is not None:
        return name["ru"] or name["en"] if language() == "ru" else name["en"]
    return offer["description"] or offer["offer_id"]


def named_categories(codes: Iterable[str], ruleset: RuleSet | None) -> str:
    """The categories a rule lists, by the names the rules give them in the page's
    language (a code without one as it is), in the order of those names."""
    names = ruleset.category_names if ruleset is not None else {}
    return words.categories(sorted(codes, key=lambda c: words.category(c, names)), names)


def personal_sections(
    ctx: ServiceContext, program: Program, member_id: int, ruleset: RuleSet | None
) -> dict[str, list[dict[str, Any]]]:
    """The member's personal offers (with the categories each is on) and favourite
    categories rules (each category to pick from with its name), for the portal's page."""
    names = ruleset.category_names if ruleset is not None else {}
    personal: list[dict[str, Any]] = []
    for offer in offers_svc.member_offers(ctx, program, member_id):
        scope: Iterable[str] = ()
        if ruleset is not None and offer["offer_id"] in ruleset.offers:
            scope = ruleset.rule(offer["offer_id"]).scope.categories
        personal.append(
            {**offer, "title": offer_title(offer), "categories": named_categories(scope, ruleset)}
        )
    favourites = [
        {
            **f,
            "options": [(code, words.category(code, names)) for code in f["allowed"]],
            "chosen_names": words.categories(f["chosen"], names),
        }
        for f in offers_svc.member_favourites(ctx, program, member_id)
    ]
    return {"personal_offers": personal, "favourites": favourites}


def member_history(
    ctx: ServiceContext, program: Program, history: audit_svc.History
) -> dict[str, Any]:
    """The history as the member reads it: a hold whose purchase went through (its
    capture on the same page) reads as points spent, and the capture line is left out.

    A hold's own line does not carry its hold id, only the capture does: the hold's
    record names the entry that placed it."""
    items = history["items"]
    on_page = {i["entry_id"] for i in items if i["kind"] == "hold"}
    paid: dict[int, int] = {}  # the hold's entry -> its capture's entry
    for item in items:
        if item["kind"] == "capture" and item.get("hold_id"):
            try:
                hold = balance_svc.get_hold(ctx, program, int(item["hold_id"] or 0))
            except KopilkaError:
                continue
            if hold.entry_id in on_page:
                paid[hold.entry_id] = item["entry_id"]
    folded = set(paid.values())
    zone, now = ZoneInfo(program.timezone), ctx.now()
    shown: list[dict[str, Any]] = []
    for item in items:
        if item["entry_id"] in folded:
            continue
        line: dict[str, Any] = {**item, "spent": item["entry_id"] in paid}
        if item["kind"] == "earn" and item["changes"].get("pending", 0) > 0:
            # points earned pending become available after the program's delay
            at = program.available_at(datetime.fromisoformat(item["occurred_at"]))
            line["pending_until"] = datetime_text(at.astimezone(zone)) if at > now else None
        shown.append(line)
    return {**history, "items": shown}


def address_identity(program_id: int, address: str) -> str:
    """What the throttles count an address as: a digest, so the shared store (Redis) and
    the visitor's session hold no phone or e-mail in clear; the same for every spelling,
    since the address is normalized first."""
    return hashlib.sha256(f"{program_id}/{address}".encode()).hexdigest()[:32]


def signed_in_member(area: Area, ctx: ServiceContext, request: Request) -> tuple[Program, int, str]:
    """The signed-in member's program, id and form token, or a redirect to sign in (the
    portal's pages and the rewards pages share it)."""
    session = area.session(request)
    if session is None or not session.signed_in:
        raise SignInRequired(area.sign_in)
    try:
        program = program_svc.get_program(ctx, int(session.data["program_id"]))
        member = member_svc.get_member(ctx, program, int(session.data["member_id"]))
    except (KopilkaError, KeyError, ValueError):
        raise SignInRequired(area.sign_in) from None
    if member.erased_at is not None:
        raise SignInRequired(area.sign_in)
    return program, member.id, area.csrf(session)


def portal_router(kopilka: Kopilka) -> APIRouter:
    router = APIRouter(prefix="/portal", route_class=WebRoute, include_in_schema=False)
    ctx = kopilka.services
    area = Area(ctx, kopilka.settings, "portal")

    def signed_in(request: Request) -> tuple[Program, int, str]:
        return signed_in_member(area, ctx, request)

    def sign_in_page(
        request: Request,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        **form: str,
    ) -> Response:
        programs = program_svc.list_programs(ctx)
        joinable = bool(portal_join.open_programs(ctx))
        return area.sign_in_page(
            request, status, error, retry_after, programs=programs, form=form, joinable=joinable
        )

    @router.get("/sign-in")
    def sign_in_form(request: Request) -> Response:
        return sign_in_page(request)

    @router.post("/sign-in")
    def send_sign_in_code(request: Request, form: Form) -> Response:
        """Send a one-time code to the phone or e-mail typed, then ask for it. Whether a
        member has the address is not said (the same page follows either way)."""
        area.check_csrf(request, form)
        chosen, typed = form.get("program", ""), form.get("address", "")
        programs = program_svc.list_programs(ctx)
        program = next((p for p in programs if p.code == chosen), None)
        if program is None and len(programs) == 1:
            program = programs[0]
        if program is None:
            return sign_in_page(request, 422, tr(CHOOSE_PROGRAM), address=typed, program=chosen)
        try:
            kind, address = read_address(typed)
        except ValidationError as e:
            text = problem_text(e.code, e.message)
            return sign_in_page(request, 422, text, address=typed, program=chosen)
        identity = address_identity(program.id, address)
        wait = area.sign_in_wait(request, identity)
        if wait is not None:
            return sign_in_page(request, retry_after=wait, address=typed, program=chosen)
        wait = area.code_wait(request, identity)
        if wait is not None:
            response = sign_in_page(
                request, 429, code_wait_message(wait), address=typed, program=chosen
            )
            response.headers["Retry-After"] = str(wait)
            return response
        sent = codes_svc.send_code(ctx, program, codes_svc.SendCode(kind, address, language()))
        area.code_sent(request, identity)
        response = redirect(CODE_PAGE)
        challenge = {
            "challenge": sent["challenge_id"],
            "program_id": program.id,
            "identity": identity,
            "channel": sent["channel"],
            "sent_to": sent["sent_to"],
        }
        area.store(response, area.start(challenge), request)
        return response

    def code_page(
        request: Request, status: int = 200, error: str | None = None, ended: bool = False
    ) -> Response:
        return portal_join.code_entry_page(
            area,
            request,
            "portal_sign_in_code.html",
            "challenge",
            area.sign_in,
            status,
            error,
            ended,
        )

    @router.get("/sign-in/code")
    def code_form(request: Request) -> Response:
        """Where the code is typed: the address it went to (masked), how long it lasts."""
        return code_page(request)

    @router.post("/sign-in/code")
    def sign_in(request: Request, form: Form) -> Response:
        """Check the typed code: the member is signed in, or the page says why not (wrong,
        with the tries left; expired or spent, with a way to a new code). Each wrong code
        counts as a failed sign-in of the client and of the address."""
        session = area.check_csrf(request, form)
        data = session.data
        if "challenge" not in data:
            return redirect(area.sign_in)
        identity = str(data.get("identity", ""))
        wait = area.sign_in_wait(request, identity)
        if wait is not None:
            response = code_page(request, 429, wait_message(wait))
            response.headers["Retry-After"] = str(wait)
            return response
        try:
            program = program_svc.get_program(ctx, int(data["program_id"]))
            accepted = codes_svc.check_code(
                ctx, program, codes_svc.CheckCode(str(data["challenge"]), form.get("code", ""))
            )
        except CodeRefused as e:
            area.sign_in_failed(request, identity)
            text = problem_text(e.code, e.message)
            left = int(e.details.get("attempts_left", 0))
            if e.details.get("verdict") == "wrong":
                tries = ngettext("%(num)s try left.", "%(num)s tries left.", left)
                text = f"{text} {tries % {'num': left}}"
            return code_page(request, 401, text, ended=e.details.get("verdict") != "wrong")
        area.sign_in_succeeded(identity)
        response = redirect("/portal")
        signed = {"program_id": program.id, "member_id": accepted["member_id"]}
        area.store(response, area.start(signed), request)
        return response

    portal_join.add_join_routes(router, ctx, area, address_identity)

    @router.post("/sign-out")
    def sign_out(request: Request, form: Form) -> Response:
        area.check_csrf(request, form)
        response = redirect(area.sign_in)
        area.forget(response)
        return response

    def home_page(
        program: Program,
        member_id: int,
        csrf: str,
        *,
        before: int | None = None,
        status: int = 200,
        error: KopilkaError | None = None,
        notice: str | None = None,
    ) -> Response:
        member = member_svc.get_member(ctx, program, member_id)
        view = balance_view(ctx, program, member_id)
        card = next(iter(member.identifiers.get("card", [])), None)
        with ctx.uow(read_only=True) as uow:
            ruleset = rules_svc.active_ruleset(uow, program, ctx.now())
        point_value = program.point_value_minor
        if ruleset is not None and ruleset.redemption.point_value_minor is not None:
            point_value = ruleset.redemption.point_value_minor
        tier_panel = tier_pages.member_panel(ctx, program, member_id)
        context: dict[str, Any] = {
            "member": member,
            "view": view,
            # what the available points are worth when paying with them: the rules' own
            # point value for redemption where they set one, else the program's
            "worth": Decimal(view.available * point_value)
            / 10 ** currency_exponent(program.currency),
            "soonest": min(view.expiring, key=lambda d: d.at) if view.expiring else None,
            "card": card,
            "card_qr": qr_svg(card) if card else None,
            "card_barcode": barcode_svg(card) if card else None,
            "history": member_history(
                ctx,
                program,
                audit_svc.history(
                    ctx, program, member_id, limit=HISTORY_PAGE, before=before, for_member=True
                ),
            ),
            "member_kind": words.member_kind,
            "member_why": words.member_why,
            "how_to_earn": offers(ctx, program, member, ruleset),
            "consents": member_svc.consent_purposes(ctx, program, member_id),
            "consent_history": member_svc.consent_history(ctx, program, member_id),
            "consent_channel": words.channel,
            "email": next(iter(member.identifiers.get("email", [])), None),
            "before": before,
            "portal_tier": tier_panel,
            "sales_shown": False,
            **membership_pages.card_context(ctx, program, member_id, tier_panel),
            **personal_sections(ctx, program, member_id, ruleset),
        }
        return RENDERER.page(
            "portal_home.html",
            status,
            area="portal",
            program=program,
            csrf=csrf,
            new_key=new_idempotency_key,
            error=error,
            notice=notice,
            **context,
        )

    @router.get("/manifest.webmanifest")
    def manifest() -> Response:
        """The portal as an installable web app (name, icon, start page)."""
        body = {
            "name": tr("Kopilka: my points"),
            "short_name": tr("My points"),
            "start_url": "/portal",
            "scope": "/portal",
            "display": "standalone",
            "background_color": "#ffffff",
            "theme_color": "#ffffff",
            "icons": [
                {"src": "/web-static/favicon.svg", "sizes": "any", "type": "image/svg+xml"},
            ],
        }
        return Response(
            json.dumps(body, ensure_ascii=False), media_type="application/manifest+json"
        )

    @router.get("")
    def home(request: Request, before: Cursor = None, done: Word = "") -> Response:
        program, member_id, csrf = signed_in(request)
        notice = tr(CONSENT_DONE[done]) if done in CONSENT_DONE else None
        return home_page(program, member_id, csrf, before=before, notice=notice)

    def profile_page(
        program: Program,
        member: Member,
        csrf: str,
        form: ProfileForm,
        *,
        status: int = 200,
        error: KopilkaError | None = None,
        notice: str | None = None,
    ) -> Response:
        days = kopilka.settings.birthday_change_days
        every = timedelta(days=days) if days else None
        locked = member_svc.birthday_change_from(ctx, program, member.id, every)
        return RENDERER.page(
            "portal_profile.html",
            status,
            area="portal",
            program=program,
            member=member,
            csrf=csrf,
            new_key=new_idempotency_key,
            form=form,
            fields=profile_fields(
                form, days, first_day(locked, program.timezone) if locked is not None else None
            ),
            error=error,
            notice=notice,
        )

    @router.get("/profile")
    def profile(request: Request, done: Word = "") -> Response:
        """The member's own details (names, e-mail, birthday) as a form."""
        program, member_id, csrf = signed_in(request)
        member = member_svc.get_member(ctx, program, member_id)
        notice = tr("Your details are saved.") if done == "saved" else None
        return profile_page(program, member, csrf, ProfileForm.of(member), notice=notice)

    @router.post("/profile")
    def save_profile(request: Request, form: Form) -> Response:
        """Save the member's details: each field checked here (errors shown by the field,
        nothing written), then changed in one transaction, audited with the member as
        the actor."""
        program, member_id, csrf = signed_in(request)
        area.check_csrf(request, form)
        member = member_svc.get_member(ctx, program, member_id)
        today = ctx.now().astimezone(ZoneInfo(program.timezone)).date()
        filled = ProfileForm.read(form, today)
        if filled.errors:
            return profile_page(program, member, csrf, filled, status=422)
        command = filled.command(member_id)
        days = kopilka.settings.birthday_change_days
        every = timedelta(days=days) if days else None

        def own_details(inner: ServiceContext) -> dict[str, object]:
            # what the audit log keeps before and after: the e-mail masked, as support
            # screens show identifiers
            m = member_svc.get_member(inner, program, member_id)
            emails = m.identifiers.get("email", [])
            return {
                "first_name": m.first_name,
                "last_name": m.last_name,
                "birthday": m.birthday.isoformat() if m.birthday else None,
                "email": mask(IdentifierKind.EMAIL, emails[0]) if emails else None,
            }

        def effect(inner: ServiceContext) -> dict[str, object]:
            member_svc.update_own_profile(inner, program, command, birthday_every=every)
            return own_details(inner)

        try:
            recorded_write(
                ctx,
                program.id,
                key=form_key(form, f"member-{member_id}"),
                operation="member.own_profile",
                request={
                    "member_id": member_id,
                    "first_name": command.first_name,
                    "last_name": command.last_name,
                    "birthday": command.birthday.isoformat() if command.birthday else None,
                    "email": command.email,
                },
                effect=effect,
                audit=Audit(
                    f"member:{member_id}",
                    "member.profile_update",
                    f"member:{member_id}",
                    own_details,
                ),
            )
        except BirthdayChangeTooSoon as e:
            moment = datetime.fromisoformat(str(e.details.get("next_change_at")))
            day = date_text(first_day(moment, program.timezone))
            filled.errors["birthday"] = tr(BIRTHDAY_LOCKED, day=day)
            return profile_page(program, member, csrf, filled, status=409)
        except DuplicateIdentifier:
            filled.errors["email"] = tr(TAKEN_EMAIL)
            return profile_page(program, member, csrf, filled, status=409)
        except KopilkaError as e:
            return profile_page(program, member, csrf, filled, status=status_of(e), error=e)
        return redirect("/portal/profile?done=saved")

    @router.get("/consents/confirm")
    def confirm_consent(request: Request, purpose: Purpose, answer: Answer) -> Response:
        """The confirmation a consent change goes through: what giving or withdrawing it
        means, in plain words, and the button that records it."""
        program, member_id, csrf = signed_in(request)
        offered = {
            c.purpose if isinstance(c, Consent) else c: c
            for c in member_svc.consent_purposes(ctx, program, member_id)
        }
        if purpose not in offered:
            raise Refused(404, tr("There is no such consent."))
        current = offered[purpose]
        granting = answer == "grant"
        if granting == (isinstance(current, Consent) and current.granted):
            return redirect("/portal")  # already the answer: nothing to confirm
        return RENDERER.page(
            "portal_consent.html",
            area="portal",
            program=program,
            member=member_svc.get_member(ctx, program, member_id),
            csrf=csrf,
            key=new_idempotency_key(),
            purpose=purpose,
            granting=granting,
            action="/portal/consents/grant" if granting else "/portal/consents/withdraw",
            meaning=consent_meaning(purpose, granting, words.purpose(purpose)),
        )

    def change_consent(request: Request, form: Form, granted: bool) -> Response:
        program, member_id, csrf = signed_in(request)
        area.check_csrf(request, form)
        purpose = form.get("purpose", "")
        operation = "consent.grant" if granted else "consent.withdraw"
        command = member_svc.ChangeConsent(member_id, purpose, granted, "portal")

        def effect(inner: ServiceContext) -> dict[str, object]:
            # a dict: the stored outcome (recorded_write takes dicts until it is generic)
            return dict(member_svc.change_consent(inner, program, command, inner.now()))

        def answer_of(inner: ServiceContext) -> dict[str, object]:
            # the answer on record before and after (None: never answered)
            latest = member_svc.current_consents(inner, program, member_id)
            now = next((c.granted for c in latest if c.purpose == purpose), None)
            return {"purpose": purpose, "granted": now}

        try:
            recorded_write(
                ctx,
                program.id,
                key=form_key(form, f"member-{member_id}"),
                operation=operation,
                request={"member_id": member_id, "purpose": purpose},
                effect=effect,
                audit=Audit(
                    f"member:{member_id}",
                    f"member.{operation}",
                    f"member:{member_id}",
                    answer_of,
                ),
            )
        except KopilkaError as e:
            return home_page(program, member_id, csrf, status=status_of(e), error=e)
        return redirect("/portal?done=granted" if granted else "/portal?done=withdrawn")

    @router.post("/offers/activate")
    def activate_offer(request: Request, form: Form) -> Response:
        """The member activates a personal offer (activating twice changes nothing)."""
        program, member_id, csrf = signed_in(request)
        area.check_csrf(request, form)
        command = offers_svc.ActivateOffer(member_id, form.get("offer_id", ""), "portal")
        try:
            offers_svc.activate_offer(ctx, program, command)
        except KopilkaError as e:
            return home_page(program, member_id, csrf, status=status_of(e), error=e)
        return redirect("/portal?done=activated")

    @router.post("/favourites")
    def choose_favourites(request: Request, form: Form) -> Response:
        """The member picks their favourite categories (one select per category to pick)."""
        program, member_id, csrf = signed_in(request)
        area.check_csrf(request, form)
        picked = tuple(
            value for name, value in sorted(form.items()) if name.startswith("category_") and value
        )
        command = offers_svc.ChooseFavourites(member_id, form.get("rule_id", ""), picked)
        try:
            offers_svc.choose_favourites(ctx, program, command)
        except KopilkaError as e:
            return home_page(program, member_id, csrf, status=status_of(e), error=e)
        return redirect("/portal?done=favourites")

    @router.post("/consents/withdraw")
    def withdraw(request: Request, form: Form) -> Response:
        """Record the member's "no" to a purpose (the confirmation page's button)."""
        return change_consent(request, form, False)

    @router.post("/consents/grant")
    def grant(request: Request, form: Form) -> Response:
        """Record the member's "yes" to a purpose (the confirmation page's button)."""
        return change_consent(request, form, True)

    return router
