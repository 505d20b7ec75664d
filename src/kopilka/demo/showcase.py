"""The demo's newer capabilities, so a newcomer can click through them: a rewards catalog
(a gift, a percent coupon, a fixed voucher, a partner coupon with a small pool, one for
gold members and above, a gift offered to members who activate it first) with some
rewards already redeemed, a personal offer some
members activated (and favourite categories they chose), and expiry and win-back
reminders switched on and run once, so members' cards show messages.

Every step goes through the services and is safe to run again: the catalog is made only
when it is empty, redemptions carry seed-derived idempotency keys, and reminders carry
their own dedupe keys.
"""

from __future__ import annotations

from typing import Any

from kopilka.demo.model import Demo
from kopilka.domain.errors import KopilkaError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.portal import PortalSettings
from kopilka.domain.reminders import ReminderSettings
from kopilka.domain.rewards import (
    Audience,
    CouponKind,
    CouponTerms,
    Fulfilment,
    Reward,
    RewardKind,
    Text,
)
from kopilka.services import (
    notifications,
    offers,
    one_time_codes,
    portal_settings,
    reminders,
    rewards,
)
from kopilka.services.rewards.redeem import RedeemReward

ACTOR = "marketer:demo"
PARTNER_CODES = tuple(f"KINO-{n:04d}" for n in range(1, 6))  # a partner's small pool


def _catalog(program_id: int) -> list[Reward]:
    def reward(
        code: str, kind: RewardKind, name: Text, about: Text, points: int, **more: Any
    ) -> Reward:
        return Reward(0, program_id, code, kind, name, about, points, **more)

    return [
        reward(
            "MUG",
            RewardKind.GIFT,
            Text("Branded mug", "Кружка с логотипом"),
            Text("Pick it up at any shop", "Заберите в любом магазине"),
            300,
            fulfilment=Fulfilment.PICKUP,
            stock=50,
        ),
        reward(
            "DAIRY10",
            RewardKind.COUPON,
            Text("10% off dairy", "Скидка 10% на молочное"),
            Text("On dairy, from 500 RUB", "На молочные продукты, от 500 ₽"),
            150,
            coupon=CouponTerms(CouponKind.PERCENT, 10, 50_000, ("dairy",)),
        ),
        reward(
            "VOUCHER200",
            RewardKind.VOUCHER,
            Text("200 RUB voucher", "Сертификат на 200 ₽"),
            Text("On a purchase from 1000 RUB", "На покупку от 1000 ₽"),
            200,
            coupon=CouponTerms(CouponKind.FIXED, 20_000, 100_000),
        ),
        reward(
            "CINEMA",
            RewardKind.PARTNER,
            Text("Cinema ticket", "Билет в кино"),
            Text("A partner's code, while the pool lasts", "Код партнёра, пока они есть"),
            400,
        ),
        reward(
            "GOLD-COFFEE",
            RewardKind.COUPON,
            Text("Gold members: 20% off coffee", "Для золотых: скидка 20% на кофе"),
            Text("For gold and platinum members", "Для участников уровня Золотой и выше"),
            250,
            coupon=CouponTerms(CouponKind.PERCENT, 20, 0, ("grocery",)),
            audience=Audience(tiers=("gold", "platinum")),
        ),
        reward(
            "CROISSANT",
            RewardKind.GIFT,
            Text("A croissant for 50 points", "Круассан за 50 баллов"),
            Text("Activate the offer, then get it", "Активируйте предложение и получите"),
            50,
            fulfilment=Fulfilment.PICKUP,
            requires_activation=True,
        ),
    ]


def rewards_catalog(demo: Demo) -> str:
    """The catalog (made once), and a few redemptions by the members with most points."""
    made = 0
    if not rewards.catalog(demo.ctx, demo.prog):
        demo.clock.set(demo.end)
        for item in _catalog(demo.prog.id):
            saved = rewards.save_reward(demo.ctx, demo.prog, rewards.SaveReward(item, ACTOR))
            if item.kind == RewardKind.PARTNER:
                rewards.load_pool(
                    demo.ctx, demo.prog, rewards.LoadPool(saved["id"], PARTNER_CODES, ACTOR)
                )
            made += 1
    demo.clock.set(demo.end)
    catalog = {r["code"]: r["id"] for r in rewards.catalog(demo.ctx, demo.prog)}
    richest = sorted(
        (p for p in demo.people if p.member_id), key=lambda p: (-p.available, p.number)
    )[:12]
    redeemed = 0
    for n, person in enumerate(richest):
        code = ("MUG", "DAIRY10", "VOUCHER200", "CINEMA")[n % 4]
        try:
            rewards.redeem_reward(
                demo.ctx,
                demo.prog,
                RedeemReward(
                    person.member_id, catalog[code], key=demo.key(person.number, "reward", code)
                ),
            )
            redeemed += 1
        except KopilkaError as e:
            demo.stats[f"declined ({e.code})"] += 1
    demo.stats["rewards redeemed"] += redeemed
    return f"rewards: {made} added to the catalog, {redeemed} redeemed"


def reminders_on(demo: Demo) -> str:
    """Expiry and win-back reminders switched on and run once as of today (the worker's
    messages job sends them through the e-mail adapter, ``log`` in development)."""
    demo.clock.set(demo.end)
    wanted = ReminderSettings(expiry=True, win_back=True, birthday=True, tier_drop=True)
    if reminders.reminder_settings(demo.ctx, demo.prog) != wanted:
        reminders.set_reminder_settings(demo.ctx, demo.prog, reminders.SetReminders(wanted, ACTOR))
    expiry = reminders.send_expiry_reminders(demo.ctx, demo.prog, demo.end)
    win_back = reminders.send_win_back(demo.ctx, demo.prog, demo.end)
    recorded = expiry["recorded"] + win_back["recorded"]
    demo.stats["reminders recorded"] += recorded
    return (
        f"reminders on: {expiry['due']} expiry and {win_back['due']} win-back due, "
        f"{recorded} messages queued"
    )


def self_enrolment_on(demo: Demo) -> str:
    """Visitors may join the demo program in the portal (``/portal/join``)."""
    wanted = PortalSettings(self_enrolment=True)
    if portal_settings.portal_settings(demo.ctx, demo.prog) != wanted:
        command = portal_settings.SetPortalSettings(wanted, ACTOR)
        portal_settings.set_portal_settings(demo.ctx, demo.prog, command)
    return "self-enrolment in the portal: on"


OFFER = "grocery-x3"  # the personal offer of the demo's rules version 2 (steps.py)
FAVOURITES = "favourites"


def personal(demo: Demo) -> str:
    """A few members activated the personal offer and chose their favourite categories
    (the others find the offer open to activate in the portal)."""
    demo.clock.set(demo.end)
    rng = demo.rng("personal")
    enrolled = [p for p in demo.people if p.member_id]
    chosen = rng.sample(enrolled, k=min(len(enrolled), max(1, len(enrolled) // 20)))
    activated = picked = 0
    for person in chosen:
        try:
            offers.activate_offer(
                demo.ctx, demo.prog, offers.ActivateOffer(person.member_id, OFFER, "portal")
            )
            activated += 1
            if offers.member_favourites(demo.ctx, demo.prog, person.member_id)[0]["can_choose"]:
                categories = tuple(rng.sample(("dairy", "bread", "fruit", "meat"), k=2))
                offers.choose_favourites(
                    demo.ctx,
                    demo.prog,
                    offers.ChooseFavourites(person.member_id, FAVOURITES, categories),
                )
                picked += 1
        except KopilkaError as e:
            demo.stats[f"declined ({e.code})"] += 1
    demo.stats["offers activated"] += activated
    return f"personal offer activated by {activated} members, favourites chosen by {picked}"


def sign_in_code(demo: Demo) -> str:
    """The member the guide shows (the first with an e-mail) once asked for a portal
    sign-in code, so their card's messages list has a sent message (the code itself is
    masked there); a rerun finds their messages and asks for none."""
    demo.clock.set(demo.end)
    shown = next((p for p in demo.people if p.email and p.member_id), None)
    if shown is None or shown.email is None:
        return "sign-in code: no member with an e-mail"
    if notifications.member_messages(demo.ctx, demo.prog, shown.member_id, limit=1):
        return "sign-in code: the guide's member has messages already"
    one_time_codes.send_code(
        demo.ctx, demo.prog, one_time_codes.SendCode(IdentifierKind.EMAIL, shown.email)
    )
    return f"sign-in code: sent to member {shown.member_id} by e-mail"
