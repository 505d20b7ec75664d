"""Rewards (issue 24): the catalog, redeeming, issued rewards. A package slice:
``catalog.py`` (the back office's catalog, stock, pools, images, refund settings),
``redeem.py`` (the member's catalog, redeeming), ``issued.py`` (cancel, expiry, lists, the
till's coupon use) and ``views.py`` (the results)."""

from __future__ import annotations

from kopilka.services.rewards.catalog import (
    LoadPool,
    SaveReward,
    SetImage,
    SetRefundSettings,
    SetStock,
    catalog,
    image,
    load_pool,
    refund_settings,
    reward,
    reward_by_code,
    save_reward,
    set_image,
    set_refund_settings,
    set_stock,
)
from kopilka.services.rewards.issued import (
    CancelIssued,
    IssuedQuery,
    cancel_issued,
    coupon_for_use,
    expire_due,
    give_back_use,
    issued_detail,
    issued_page,
    mark_used,
    member_rewards,
)
from kopilka.services.rewards.redeem import RedeemReward, redeem_reward, visible_catalog

__all__ = [
    "CancelIssued",
    "IssuedQuery",
    "LoadPool",
    "RedeemReward",
    "SaveReward",
    "SetImage",
    "SetRefundSettings",
    "SetStock",
    "cancel_issued",
    "catalog",
    "coupon_for_use",
    "expire_due",
    "give_back_use",
    "image",
    "issued_detail",
    "issued_page",
    "load_pool",
    "mark_used",
    "member_rewards",
    "redeem_reward",
    "refund_settings",
    "reward",
    "reward_by_code",
    "save_reward",
    "set_image",
    "set_refund_settings",
    "set_stock",
    "visible_catalog",
]
