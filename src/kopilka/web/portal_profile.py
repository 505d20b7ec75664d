"""What the member changes about themselves in the portal: the profile form read once at
its edge (each field's error in the page's language, no command when any is wrong), and
the plain words of the confirmation a consent change goes through.

A member sets only what is theirs to set: names, e-mail and birthday. The tier,
segments and attributes stay support's (``services.apikeys.PROFILE_ROLES``), and the
birthday changes at most once in the server's ``birthday_change_days``
(``services.members.update_own_profile``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from kopilka.domain.errors import ValidationError
from kopilka.domain.identifiers import IdentifierKind, normalize
from kopilka.domain.member import Member
from kopilka.services.members import MAX_NAME, UpdateOwnProfile
from kopilka.web.i18n import N_, date_text, ngettext, tr

PROFILE_FORM = ("first_name", "last_name", "email", "birthday")
OLDEST_BIRTHDAY = date(1900, 1, 1)

TOO_LONG = N_("At most %(num)s characters.")
BAD_EMAIL = N_("Enter an e-mail address such as name@example.com.")
BAD_DATE = N_("Enter a date as year-month-day, such as 1990-05-31.")
FUTURE_DATE = N_("A birthday cannot be in the future.")
OLD_DATE = N_("Enter a date after 1900-01-01.")
TAKEN_EMAIL = N_("This e-mail belongs to another membership. Enter another one.")
BIRTHDAY_LOCKED = N_("Your birthday was changed recently: it can change again from %(day)s.")

# what answering yes or no to a purpose means, in the member's words; a purpose the
# program made up has the general sentence
MEANINGS: dict[str, tuple[str, str]] = {
    "personal_data": (
        N_(
            "You agree that the program processes your personal data (name, contacts, "
            "birthday, purchases) to run your membership."
        ),
        N_(
            "You no longer agree that the program processes your personal data. Your "
            "points and your history are kept."
        ),
    ),
    "marketing_email": (
        N_("The program may send you offers and news by e-mail."),
        N_(
            "The program stops sending you offers and news by e-mail. Your points are not affected."
        ),
    ),
    "marketing_sms": (
        N_("The program may send you offers and news by SMS."),
        N_("The program stops sending you offers and news by SMS. Your points are not affected."),
    ),
    "sms": (
        N_("The program may send you text messages (SMS)."),
        N_("The program stops sending you text messages (SMS). Your points are not affected."),
    ),
    "push": (
        N_("The program may send you push notifications on your phone."),
        N_("The program stops sending you push notifications. Your points are not affected."),
    ),
    "email": (
        N_("The program may write to you by e-mail."),
        N_("The program stops writing to you by e-mail. Your points are not affected."),
    ),
}
GENERAL_MEANING = (
    N_("You agree to: %(purpose)s."),
    N_("You no longer agree to: %(purpose)s. Your points are not affected."),
)


def consent_meaning(purpose: str, granted: bool, purpose_word: str) -> str:
    """What giving (``granted``) or withdrawing consent to ``purpose`` means, in plain
    words of the page's language."""
    yes, no = MEANINGS.get(purpose, GENERAL_MEANING)
    return tr(yes if granted else no, purpose=purpose_word)


def first_day(moment: datetime, timezone: str) -> date:
    """The first whole day, in the program's calendar, from ``moment`` on: the day a
    member is told they may change their birthday again is never one that still refuses
    it in its morning."""
    local = moment.astimezone(ZoneInfo(timezone))
    if local.time() == datetime.min.time():
        return local.date()
    return local.date() + timedelta(days=1)


@dataclass(slots=True)
class ProfileForm:
    """The profile form as the member filled it in (shown again on an error) and each
    field's error; :meth:`command` once there are none."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    birthday: date | None = None

    @classmethod
    def of(cls, member: Member) -> ProfileForm:
        """The form filled in with the member's profile as stored."""
        emails = member.identifiers.get("email", [])
        return cls(
            {
                "first_name": member.first_name or "",
                "last_name": member.last_name or "",
                "email": emails[0] if emails else "",
                "birthday": member.birthday.isoformat() if member.birthday else "",
            }
        )

    @classmethod
    def read(cls, fields: dict[str, str], today: date) -> ProfileForm:
        """The posted form, each field checked; blank fields clear theirs."""
        values = {name: fields.get(name, "").strip() for name in PROFILE_FORM}
        form = cls(values)
        for name in ("first_name", "last_name"):
            text = values[name]
            if len(text) > MAX_NAME:
                form.errors[name] = tr(TOO_LONG, num=MAX_NAME)
            setattr(form, name, text or None)
        if values["email"]:
            try:
                form.email = normalize(IdentifierKind.EMAIL, values["email"])
            except ValidationError:
                form.errors["email"] = tr(BAD_EMAIL)
        if values["birthday"]:
            try:
                day = date.fromisoformat(values["birthday"])
            except ValueError:
                form.errors["birthday"] = tr(BAD_DATE)
            else:
                if day > today:
                    form.errors["birthday"] = tr(FUTURE_DATE)
                elif day < OLDEST_BIRTHDAY:
                    form.errors["birthday"] = tr(OLD_DATE)
                form.birthday = day
        return form

    def command(self, member_id: int) -> UpdateOwnProfile:
        """The change to make (only once :attr:`errors` is empty)."""
        assert not self.errors
        return UpdateOwnProfile(
            member_id, self.first_name, self.last_name, self.birthday, self.email
        )


@dataclass(frozen=True, slots=True)
class FieldView:
    """One input of the profile form as the page draws it."""

    name: str
    label: str
    kind: str  # the input's type
    autocomplete: str
    value: str
    error: str
    maxlength: int | None = None
    help: str = ""
    readonly: bool = False


def profile_fields(
    form: ProfileForm, birthday_days: int, birthday_from: date | None
) -> list[FieldView]:
    """The profile form's inputs with their labels, values and errors; the birthday's
    says how often it may change (``birthday_days``, 0: any time) and, when it may not
    change now, from which day (``birthday_from``) it may."""
    if birthday_from is not None:
        birthday_help: str = tr(BIRTHDAY_LOCKED, day=date_text(birthday_from))
    elif birthday_days:
        birthday_help = ngettext(
            "The birthday can be changed once in %(num)s day.",
            "The birthday can be changed once in %(num)s days.",
            birthday_days,
        ) % {"num": birthday_days}
    else:
        birthday_help = ""
    shown = (
        ("first_name", N_("First name"), "text", "given-name", MAX_NAME),
        ("last_name", N_("Last name"), "text", "family-name", MAX_NAME),
        ("email", N_("E-mail"), "email", "email", 254),
        ("birthday", N_("Birthday"), "date", "bday", None),
    )
    return [
        FieldView(
            name,
            tr(label),
            kind,
            auto,
            form.values.get(name, ""),
            form.errors.get(name, ""),
            size,
            birthday_help if name == "birthday" else "",
            name == "birthday" and birthday_from is not None,
        )
        for name, label, kind, auto, size in shown
    ]
