"""The one error family of Kopilka.

Every error a caller can cause carries a stable machine ``code`` (used in RFC 9457
problem documents, CLI messages and idempotency records) and is mapped to an HTTP
status in exactly one place (``kopilka.api.errors``)::

    KopilkaError
    ├── ValidationError          validation_error      bad input, nothing written
    │   ├── PromoCodeInvalid     promo_code_invalid    unknown, expired or used-up promo code
    │   └── RewardCodeInvalid    reward_code_invalid   not a reward code, or a wrong check character
    ├── NotFoundError            not_found             the thing named does not exist
    ├── ConflictError            conflict              state forbids the operation
    │   ├── IdempotencyConflict  idempotency_conflict  same key, different request
    │   ├── DuplicateIdentifier  duplicate_identifier  identifier taken in the program
    │   ├── HoldNotActive        hold_not_active       hold already captured/voided/expired
    │   ├── HoldExpired          hold_expired          hold timed out by server time
    │   ├── ReversalExceeded     reversal_exceeded     a return would give back too much
    │   ├── BirthdayChangeTooSoon  birthday_change_too_soon  changed again within the interval
    │   ├── RewardUnavailable    reward_unavailable    a reward this member cannot redeem now
    │   │   └── OfferNotActivated  offer_not_activated  a reward offer not activated yet
    │   └── IssuedRewardNotActive  issued_reward_not_active  used, expired or cancelled already
    ├── InsufficientPoints       insufficient_points   not enough available points
    ├── MemberBlocked            member_blocked        blocked member can neither earn nor spend
    ├── RedemptionNotAllowed     redemption_not_allowed  the program's redemption rules refuse it
    └── PermissionDenied         forbidden             the caller's role may not do this
        ├── OutsideKeyScope      outside_key_scope     a store or channel other than the key's
        └── FieldNotAllowed      field_not_allowed     a field the caller's role may not set
"""

from __future__ import annotations

from typing import Any


class KopilkaError(Exception):
    """Base of every expected failure; ``code`` is stable and machine-readable."""

    code = "kopilka_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The error as plain data: what idempotency records and problem documents carry."""
        return {"code": self.code, "message": self.message, "details": self.details}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> KopilkaError:
        """Rebuild a stored error (a failed request stays failed under its idempotency key)."""
        cls = ERRORS_BY_CODE.get(str(data.get("code")), KopilkaError)
        return cls(str(data.get("message", "")), **dict(data.get("details") or {}))


class ValidationError(KopilkaError):
    code = "validation_error"


class PromoCodeInvalid(ValidationError):
    """A purchase carries a promo code the rules do not define, out of its dates, or used up
    (``details.reason``: ``unknown``, ``not_yet_valid``, ``expired``, ``used_up``)."""

    code = "promo_code_invalid"


class CouponInvalid(ValidationError):
    """A coupon a purchase carries cannot be used (``details.reason``: ``unknown``,
    ``format``, ``check``, ``used``, ``expired``, ``cancelled``, ``not_yet_valid``,
    ``other_member``, ``not_a_coupon``, ``min_basket``, ``no_lines``; ``details.code``)."""

    code = "coupon_invalid"


class NotFoundError(KopilkaError):
    code = "not_found"


class ConflictError(KopilkaError):
    code = "conflict"


class IdempotencyConflict(ConflictError):
    code = "idempotency_conflict"


class DuplicateIdentifier(ConflictError):
    code = "duplicate_identifier"


class HoldNotActive(ConflictError):
    code = "hold_not_active"


class HoldExpired(ConflictError):
    code = "hold_expired"


class ReversalExceeded(ConflictError):
    code = "reversal_exceeded"


class InsufficientPoints(KopilkaError):
    code = "insufficient_points"


class MemberBlocked(KopilkaError):
    code = "member_blocked"


class RedemptionNotAllowed(KopilkaError):
    code = "redemption_not_allowed"


class PermissionDenied(KopilkaError):
    code = "forbidden"


class OutsideKeyScope(PermissionDenied):
    """A request names a store or channel other than the one its API key is bound to."""

    code = "outside_key_scope"


class FieldNotAllowed(PermissionDenied):
    """A request sets a field the caller's role may not set (a tier, segments, a birthday)."""

    code = "field_not_allowed"


class BirthdayChangeTooSoon(ConflictError):
    """A member's birthday was changed less than the configured interval ago."""

    code = "birthday_change_too_soon"


class CodeRefused(KopilkaError):
    """A one-time code was not accepted: ``details["verdict"]`` says why (wrong, expired,
    spent) and ``details["attempts_left"]`` how many tries the code has left."""

    code = "code_refused"


class OfferNotAvailable(ConflictError):
    """An offer not addressed to the member, or already over, was activated."""

    code = "offer_not_available"


class FavouritesAlreadyChosen(ConflictError):
    """A member chose favourite categories a second time in one period."""

    code = "favourites_already_chosen"


class RewardUnavailable(ConflictError):
    """A reward this member cannot redeem now (``details.reason``: ``not_visible``,
    ``not_yet_available``, ``ended``, ``inactive``, ``out_of_stock``, ``pool_empty``,
    ``member_limit``, ``period_limit``, ``total_limit``)."""

    code = "reward_unavailable"


class OfferNotActivated(RewardUnavailable):
    """A reward offered as a personal offer (``requires_activation``) that the member has
    not activated yet (``details.reason``: ``not_activated``; ``details.offer_id``: the
    offer to activate, ``reward:<id>``)."""

    code = "offer_not_activated"


class RewardCodeInvalid(ValidationError):
    """A reward code that cannot be one: wrong length or characters, or a wrong check
    character (``details.reason``: ``format`` or ``check``)."""

    code = "reward_code_invalid"


class IssuedRewardNotActive(ConflictError):
    """An issued reward that is no longer ``issued`` (used, expired or cancelled) was asked
    to change (``details.status``)."""

    code = "issued_reward_not_active"


def _all_subclasses(cls: type[KopilkaError]) -> list[type[KopilkaError]]:
    out: list[type[KopilkaError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


ERRORS_BY_CODE: dict[str, type[KopilkaError]] = {KopilkaError.code: KopilkaError} | {
    c.code: c for c in _all_subclasses(KopilkaError)
}
