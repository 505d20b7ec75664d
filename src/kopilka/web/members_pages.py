"""Console pages for support: find a member, see and explain their points, edit the
profile and the phone and e-mail, replace a lost card, void a hold, adjust, block or
unblock (a purchase's breakdown and its return are the receipt pages, ``receipt_pages``).

Every action that takes points or access away, or retires a card, is given a reason (a
code, a note, and for points a text the member reads) and confirmed on a page of its
own before it happens: the form posts once to see what will be done, and the confirm
page posts the same fields again with ``confirmed``. Both carry the form's idempotency
key, so a double submit still acts once."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from kopilka.domain.errors import KopilkaError, NotFoundError, ValidationError
from kopilka.domain.identifiers import IdentifierKind, mask, normalize
from kopilka.domain.member import Member
from kopilka.domain.reasons import MAX_MEMBER_TEXT, MAX_NOTE, Reason, ReasonCode
from kopilka.services import audit as audit_svc
from kopilka.services import back_office
from kopilka.services import identifiers as ident_svc
from kopilka.services import members as member_svc
from kopilka.services.apikeys import PROFILE_ROLES, Permission
from kopilka.services.back_office import ChangeProfile, SetBlocked, VoidMemberHold
from kopilka.services.balance_view import active_holds, balance_view, get_hold
from kopilka.services.member_list import sees_personal_data
from kopilka.services.points import Adjust
from kopilka.web import tier_pages
from kopilka.web.console import Console
from kopilka.web.guard import Operator, form_key
from kopilka.web.i18n import N_, ngettext, number, tr
from kopilka.web.member_list_pages import list_context
from kopilka.web.notification_pages import message_rows
from kopilka.web.render import (
    Cursor,
    Form,
    PathId,
    Refused,
    WebRoute,
    Word,
    redirect,
    status_of,
)
from kopilka.web.words import role as role_word

HISTORY_PAGE = 25
NOTICES = {
    "adjusted": N_("The adjustment is recorded."),
    "blocked": N_("The member is blocked."),
    "unblocked": N_("The member is unblocked."),
    "profile": N_("The profile is saved."),
    "contact": N_("The phone or e-mail is saved."),
    "card": N_("The card is replaced: the old one no longer works."),
    "voided": N_("The hold is voided: its points are back on the balance."),
}
# the reason codes as a support agent reads them (kopilka.domain.reasons.ReasonCode)
REASON_LABELS = {
    ReasonCode.GOODWILL: N_("Goodwill gesture"),
    ReasonCode.SERVICE_FAILURE: N_("Points a till or the site failed to give"),
    ReasonCode.CORRECTION: N_("Correction of a mistake"),
    ReasonCode.RETURN: N_("Goods returned"),
    ReasonCode.CUSTOMER_REQUEST: N_("The member asked"),
    ReasonCode.LOST_CARD: N_("Lost or damaged card"),
    ReasonCode.FRAUD: N_("Suspected fraud"),
    ReasonCode.OTHER: N_("Other (describe in the note)"),
}
GENDERS = {"female": N_("female"), "male": N_("male")}


def parse_delta(raw: str | None) -> int:
    """A whole, signed number of points from a form field."""
    text = (raw or "").strip().replace("\u202f", "").replace(" ", "")
    try:
        return int(text)
    except ValueError:
        raise ValidationError(
            tr("points must be a whole number, e.g. 50 or -20"), field="delta"
        ) from None


def parse_reason_fields(form: Mapping[str, str], *, for_member: bool) -> Reason:
    """The reason of a destructive action from its form: a code from the list, a note
    (required with "other") and, for ``for_member`` (actions that move points), the text
    the member reads."""
    raw = (form.get("reason_code") or "").strip()
    if not raw:
        raise ValidationError(tr("choose a reason"), field="reason_code")
    try:
        code = ReasonCode(raw)
    except ValueError:
        raise ValidationError(tr("choose a reason from the list"), field="reason_code") from None
    note = (form.get("reason_note") or "").strip() or None
    told = (form.get("member_text") or "").strip() or None if for_member else None
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationError(
            tr("the note is limited to %(max)s characters", max=MAX_NOTE), field="reason_note"
        )
    if told is not None and len(told) > MAX_MEMBER_TEXT:
        raise ValidationError(
            tr("the text for the member is limited to %(max)s characters", max=MAX_MEMBER_TEXT),
            field="member_text",
        )
    if code is ReasonCode.OTHER and not note:
        raise ValidationError(
            tr("describe the reason in the note when it is “other”"), field="reason_note"
        )
    return Reason(code, note, told)


def reason_label(code: object) -> str:
    """A reason code as the console says it; one this layer does not know, as written."""
    try:
        return tr(REASON_LABELS[ReasonCode(str(code))])
    except ValueError:
        return str(code)


def parse_birthday(raw: str | None) -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            tr("the birthday must be a date, e.g. 1990-05-17"), field="birthday"
        ) from None


def parse_attributes(raw: str | None) -> dict[str, object]:
    """Attributes as the API takes them: a JSON object (blank: none)."""
    text = (raw or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ValidationError(
            tr('attributes must be a JSON object, e.g. {"city": "Kazan"}'),
            field="attributes",
        )
    return value


def profile_change(member: Member, form: Mapping[str, str]) -> member_svc.UpdateProfile:
    """The fields of the profile form that differ from the member's (blank clears one)."""
    given: dict[str, object] = {
        "first_name": (form.get("first_name") or "").strip() or None,
        "last_name": (form.get("last_name") or "").strip() or None,
        "birthday": parse_birthday(form.get("birthday")),
        "gender": (form.get("gender") or "").strip() or None,
        "attributes": parse_attributes(form.get("attributes")),
    }
    gender = given["gender"]
    # one the API set that the list does not have is kept as it is
    if gender is not None and gender not in GENDERS and gender != member.gender:
        raise ValidationError(tr("choose a gender from the list"), field="gender")
    current = {name: getattr(member, name) for name in given}
    current["attributes"] = dict(member.attributes or {})
    changed = frozenset(n for n, v in given.items() if v != current[n])
    birthday = given["birthday"]
    attributes = given["attributes"]
    profile = member_svc.Profile(
        first_name=str(given["first_name"]) if given["first_name"] else None,
        last_name=str(given["last_name"]) if given["last_name"] else None,
        birthday=birthday if isinstance(birthday, date) else None,
        gender=str(gender) if gender else None,
        attributes=attributes if isinstance(attributes, dict) else None,
    )
    return member_svc.UpdateProfile(member.id, profile, changed)


def gender_word(code: str | None) -> str:
    """A gender as the page's language says it; one set through the API as written."""
    if not code:
        return "—"
    return tr(GENDERS[code]) if code in GENDERS else code


def personal(member: Member, masked: bool) -> dict[str, Any]:
    """What the card shows of the member's personal data: in full to roles that need it
    (support, admin), masked for the others (a marketer, an analyst), as the list does."""
    name = " ".join(p for p in (member.first_name, member.last_name) if p)
    idents = {k: list(v) for k, v in member.identifiers.items()}
    if not masked:
        return {
            "name": name,
            "identifiers": idents,
            "birthday": member.birthday,
            "gender": member.gender,
            "masked": False,
        }
    return {
        "name": " ".join(f"{p[:1]}***" for p in name.split()),
        "identifiers": {k: [mask(k, v) for v in vs] for k, vs in idents.items()},
        "birthday": None,
        "gender": None,
        "masked": True,
    }


def looks_like_a_name(value: str) -> bool:
    """Letters and no digits: a name typed where a card was expected, searched as one."""
    return any(ch.isalpha() for ch in value) and not any(ch.isdigit() for ch in value)


def named_actors(history: Any, named: Callable[[object], str]) -> Any:
    """A history page whose lines name their actor as a person reads it (the recorded
    ``apikey:4:…`` becomes the key's name and role)."""
    items = [
        {**item, "actor": named(item["actor"])} if item.get("actor") else item
        for item in history["items"]
    ]
    return {**history, "items": items}


def members_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    def search_page(
        op: Operator,
        status: int = 200,
        error: KopilkaError | None = None,
        params: dict[str, str] | None = None,
        **form: str,
    ) -> Response:
        try:
            listing = list_context(console, op, params or {})
        except ValidationError as e:  # a filter as typed: shown with an unfiltered list
            status, error = status_of(e), e
            listing = list_context(console, op, {})
            listing["filters"] = {k: (params or {}).get(k, "") for k in listing["filters"]}
        return console.page(
            op,
            "admin_search.html",
            status,
            kinds=list(IdentifierKind),
            form=form,
            error=error,
            nav="members",
            **listing,
        )

    # the list, searched and filtered, and the exact-identifier lookup's form
    @router.get("/members")
    def search_form(request: Request) -> Response:
        op = console.operator(request)
        op.require(Permission.MEMBERS_READ)
        return search_page(op, params=dict(request.query_params))

    # a POST, so card numbers, phones and e-mails stay out of URLs and access logs
    @router.post("/members/search")
    def search(request: Request, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.MEMBERS_READ)
        kind, value = form.get("kind", "card"), form.get("value", "")
        if kind == "name":  # a name is searched in the list, never read as a card number
            return redirect(f"/admin/members?{urlencode({'q': value.strip()})}")
        try:
            member = member_svc.lookup(ctx, op.program, kind, value)
        except KopilkaError as e:
            if kind == "card" and looks_like_a_name(value):
                return redirect(f"/admin/members?{urlencode({'q': value.strip()})}")
            return search_page(op, status_of(e), e, kind=kind, value=value)
        return redirect(f"/admin/members/{member.id}")

    def member_page(
        op: Operator,
        member_id: int,
        *,
        before: int | None = None,
        status: int = 200,
        error: KopilkaError | None = None,
        failed: str = "",
        form: Mapping[str, str] | None = None,
        notice: str | None = None,
    ) -> Response:
        program = op.program
        member = member_svc.get_member(ctx, program, member_id)
        can_history = op.can(Permission.HISTORY_READ)
        sees = sees_personal_data(op.role)
        return console.page(
            op,
            "admin_member.html",
            status,
            member=member,
            shown=personal(member, masked=not sees),
            can_edit=sees and op.can(Permission.MEMBERS_UPDATE),
            view=balance_view(ctx, program, member_id),
            # a store-bound key sees (and voids) only its own store's holds
            holds=[
                h
                for h in active_holds(ctx, program, member_id)
                if op.key.scope is None or op.key.scope.covers(h.store)
            ],
            consents=member_svc.current_consents(ctx, program, member_id),
            history=named_actors(
                audit_svc.history(ctx, program, member_id, limit=HISTORY_PAGE, before=before),
                console.actor(op),
            )
            if can_history
            else None,
            purchases=member_svc.member_purchases(ctx, program, member_id) if can_history else None,
            messages=message_rows(ctx, program, member_id) if can_history else None,
            before=before,
            error=error,
            failed=failed,
            form=dict(form or {}),
            notice=notice,
            reasons=[(code.value, reason_label(code)) for code in ReasonCode],
            reason_label=reason_label,
            genders=[(code, tr(label)) for code, label in GENDERS.items()],
            gender_word=gender_word,
            attributes_text=json.dumps(member.attributes, ensure_ascii=False)
            if member.attributes
            else "",
            nav="members",
            **tier_pages.card_context(ctx, op, member_id),
        )

    def confirm_page(
        op: Operator,
        member: Member,
        *,
        action: str,
        title: str,
        summary: str,
        button: str,
        reason: Reason,
        form: Mapping[str, str],
        danger: bool = True,
    ) -> Response:
        """The second step of a destructive action: what will happen, the reason given,
        and the same fields posted again with ``confirmed``."""
        sees = sees_personal_data(op.role)
        carried = {
            k: v for k, v in form.items() if k not in ("csrf_token", "confirmed") and v is not None
        }
        return console.page(
            op,
            "admin_confirm.html",
            member=member,
            shown=personal(member, masked=not sees),
            action=action,
            title=title,
            summary=summary,
            button=button,
            reason=reason,
            reason_text=reason_label(reason.code),
            carried=carried,
            danger=danger,
            nav="members",
        )

    def who(op: Operator, member: Member) -> str:
        """The member as a confirm sentence names them (masked for roles without
        personal data): "Ivan P." or "member 12"."""
        if sees_personal_data(op.role) and (member.first_name or member.last_name):
            initial = f" {member.last_name[:1]}." if member.last_name else ""
            return f"{member.first_name or ''}{initial}".strip()
        return tr("member %(id)s", id=member.id)

    def confirmed(form: Mapping[str, str]) -> bool:
        return form.get("confirmed") == "yes"

    @router.get("/members/{member_id}")
    def member(
        request: Request, member_id: PathId, before: Cursor = None, done: Word = ""
    ) -> Response:
        op = console.operator(request)
        op.require(Permission.MEMBERS_READ)
        notice = tr(NOTICES[done]) if done in NOTICES else None
        return member_page(op, member_id, before=before, notice=notice)

    @router.post("/members/{member_id}/adjust")
    def adjust(request: Request, member_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.POINTS_ADJUST)
        program = op.program
        member = member_svc.get_member(ctx, program, member_id)  # 404 first
        try:
            key = form_key(form, op.caller)
            delta = parse_delta(form.get("delta"))
            if delta == 0:
                raise ValidationError(tr("delta must be a non-zero whole number"), field="delta")
            reason = parse_reason_fields(form, for_member=True)
            if not confirmed(form):
                now = balance_view(ctx, program, member_id).available
                values = {
                    "num": number(abs(delta)),
                    "who": who(op, member),
                    "old": number(now),
                    "new": number(now + delta),
                }
                summary = (
                    ngettext(
                        "Add %(num)s point to %(who)s; balance %(old)s → %(new)s.",
                        "Add %(num)s points to %(who)s; balance %(old)s → %(new)s.",
                        abs(delta),
                    )
                    if delta > 0
                    else ngettext(
                        "Remove %(num)s point from %(who)s; balance %(old)s → %(new)s.",
                        "Remove %(num)s points from %(who)s; balance %(old)s → %(new)s.",
                        abs(delta),
                    )
                ) % values
                return confirm_page(
                    op,
                    member,
                    action=f"/admin/members/{member_id}/adjust",
                    title=tr("Confirm the adjustment"),
                    summary=summary,
                    button=tr("Record adjustment"),
                    reason=reason,
                    form=form,
                    danger=delta < 0,
                )
            back_office.adjust(
                ctx,
                program,
                Adjust(
                    member_id,
                    delta,
                    key=key,
                    reason=reason.internal(),
                    actor=op.key.actor,
                    meta=reason.meta(),
                ),
            )
        except KopilkaError as e:
            return member_page(
                op, member_id, status=status_of(e), error=e, failed="adjust", form=form
            )
        return redirect(f"/admin/members/{member_id}?done=adjusted")

    @router.post("/members/{member_id}/status")
    def set_status(request: Request, member_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.MEMBERS_BLOCK)
        program = op.program
        member = member_svc.get_member(ctx, program, member_id)  # 404 first
        blocked = form.get("action") == "block"
        action = "block" if blocked else "unblock"
        try:
            key = form_key(form, op.caller)
            reason = parse_reason_fields(form, for_member=False)
            if not confirmed(form):
                summary = (
                    tr(
                        "Block %(who)s: they can neither earn nor spend until unblocked.",
                        who=who(op, member),
                    )
                    if blocked
                    else tr("Unblock %(who)s: earning and spending resume.", who=who(op, member))
                )
                return confirm_page(
                    op,
                    member,
                    action=f"/admin/members/{member_id}/status",
                    title=tr("Confirm blocking") if blocked else tr("Confirm unblocking"),
                    summary=summary,
                    button=tr("Block member") if blocked else tr("Unblock member"),
                    reason=reason,
                    form=form,
                    danger=blocked,
                )
            back_office.set_blocked(
                ctx,
                program,
                SetBlocked(member_id, blocked, reason.internal(), key=key, actor=op.key.actor),
                answer=lambda inner: {"status": "blocked" if blocked else "active"},
            )
        except KopilkaError as e:
            return member_page(
                op, member_id, status=status_of(e), error=e, failed="status", form=form
            )
        return redirect(f"/admin/members/{member_id}?done={action}ed")

    @router.post("/members/{member_id}/holds/{hold_id}/void")
    def void_hold(request: Request, member_id: PathId, hold_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.HOLDS_VOID)
        program = op.program
        member = member_svc.get_member(ctx, program, member_id)  # 404 first
        try:
            key = form_key(form, op.caller)
            reason = parse_reason_fields(form, for_member=True)
            found = get_hold(ctx, program, hold_id, scope=op.key.scope)
            if found.member_id != member_id:
                raise NotFoundError(tr("hold %(id)s not found", id=hold_id), hold_id=hold_id)
            if not confirmed(form):
                now = balance_view(ctx, program, member_id).available
                summary = ngettext(
                    "Void hold %(hold)s of %(who)s: %(num)s point goes back; "
                    "balance %(old)s → %(new)s.",
                    "Void hold %(hold)s of %(who)s: %(num)s points go back; "
                    "balance %(old)s → %(new)s.",
                    found.amount,
                ) % {
                    "hold": hold_id,
                    "who": who(op, member),
                    "num": number(found.amount),
                    "old": number(now),
                    "new": number(now + found.amount),
                }
                return confirm_page(
                    op,
                    member,
                    action=f"/admin/members/{member_id}/holds/{hold_id}/void",
                    title=tr("Confirm voiding the hold"),
                    summary=summary,
                    button=tr("Void the hold"),
                    reason=reason,
                    form=form,
                )
            back_office.void_hold(
                ctx,
                program,
                VoidMemberHold(member_id, hold_id, reason, key=key, actor=op.key.actor),
            )
        except KopilkaError as e:
            return member_page(
                op, member_id, status=status_of(e), error=e, failed="void", form=form
            )
        return redirect(f"/admin/members/{member_id}?done=voided")

    @router.post("/members/{member_id}/card")
    def replace_card(request: Request, member_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.MEMBERS_UPDATE)
        require_personal(op)
        program = op.program
        member = member_svc.get_member(ctx, program, member_id)  # 404 first
        try:
            key = form_key(form, op.caller)
            new_card = normalize(IdentifierKind.CARD, form.get("new_card", ""))
            old_raw = (form.get("old_card") or "").strip()
            old_card = normalize(IdentifierKind.CARD, old_raw) if old_raw else None
            reason = parse_reason_fields(form, for_member=False)
            command = ident_svc.ReplaceCard(
                member_id, new_card, reason, old_card, key=key, actor=op.key.actor
            )
            if not confirmed(form):
                cards = member.identifiers.get("card", [])
                old_shown = old_card or (cards[0] if len(cards) == 1 else "—")
                summary = tr(
                    "Replace card %(old)s of %(who)s by %(new)s: the old card stops working "
                    "at once; points and history stay with the member.",
                    old=old_shown,
                    who=who(op, member),
                    new=new_card,
                )
                return confirm_page(
                    op,
                    member,
                    action=f"/admin/members/{member_id}/card",
                    title=tr("Confirm the card replacement"),
                    summary=summary,
                    button=tr("Replace the card"),
                    reason=reason,
                    form=form,
                )
            ident_svc.replace_card(ctx, program, command)
        except KopilkaError as e:
            return member_page(
                op, member_id, status=status_of(e), error=e, failed="card", form=form
            )
        return redirect(f"/admin/members/{member_id}?done=card")

    def require_personal(op: Operator) -> None:
        """Editing personal data needs a role that sees it (support, admin)."""
        if not sees_personal_data(op.role):
            op.require(Permission.MEMBERS_UPDATE)  # says which role may not
            raise Refused(
                403,
                tr("Your role (%(role)s) does not edit personal data.", role=role_word(op.role)),
            )

    @router.post("/members/{member_id}/contact")
    def change_contact(request: Request, member_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.MEMBERS_UPDATE)
        require_personal(op)
        program = op.program
        member_svc.get_member(ctx, program, member_id)  # 404 first
        try:
            key = form_key(form, op.caller)
            raw_kind = form.get("kind", "")
            if raw_kind not in ("phone", "email"):
                raise ValidationError(tr("choose a phone or an e-mail"), field="kind")
            kind = IdentifierKind(raw_kind)
            value = normalize(kind, form.get("value", ""))
            replaces = (form.get("replaces") or "").strip() or None
            ident_svc.change_contact(
                ctx,
                program,
                ident_svc.ChangeContact(
                    member_id, kind, value, replaces, key=key, actor=op.key.actor
                ),
            )
        except KopilkaError as e:
            return member_page(
                op, member_id, status=status_of(e), error=e, failed="contact", form=form
            )
        return redirect(f"/admin/members/{member_id}?done=contact")

    @router.post("/members/{member_id}/profile")
    def edit_profile(request: Request, member_id: PathId, form: Form) -> Response:
        op = console.operator(request)
        console.area.check_csrf(request, form)
        op.require(Permission.MEMBERS_UPDATE)
        require_personal(op)
        program = op.program
        member = member_svc.get_member(ctx, program, member_id)  # 404 first
        days = console.settings.birthday_change_days
        try:
            key = form_key(form, op.caller)
            update = profile_change(member, form)
            if update.fields:
                back_office.change_profile(
                    ctx,
                    program,
                    ChangeProfile(
                        update,
                        key=key,
                        actor=op.key.actor,
                        keep_segments=op.role not in PROFILE_ROLES,
                        birthday_every=timedelta(days=days) if days else None,
                    ),
                )
        except KopilkaError as e:
            return member_page(
                op, member_id, status=status_of(e), error=e, failed="profile", form=form
            )
        return redirect(f"/admin/members/{member_id}?done=profile")

    return router
