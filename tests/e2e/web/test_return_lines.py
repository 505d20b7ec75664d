"""The console's receipt page and the member's portal history say what a return did with
spent points that had expired (review issue 18, item 14): restored, and expired at once."""

from __future__ import annotations

from datetime import timedelta

from kopilka.services import purchases
from tests import commands
from tests.e2e.web.world import portal_sign_in, text_of


def test_a_return_after_expiry_reads_restored_and_expired_at_once(world, as_role, anon):
    """100 points spent, then the receipt returned after the points' validity (365 days):
    the receipt page and the portal history both say they expired at once."""
    receipt = f"{world.receipt_id}-late"
    purchases.commit(
        world.ctx,
        world.program,
        commands.purchase(
            world.ctx,
            world.program,
            {
                "receipt_id": receipt,
                "member_id": world.member_id,
                "redeem_points": 100,
                "lines": [{"line_id": "1", "sku": "BREAD", "quantity": "1", "amount": "400"}],
            },
        ),
    )
    world.ctx.clock.advance(timedelta(days=400))  # type: ignore[attr-defined]
    back = purchases.process_return(
        world.ctx, world.program, commands.return_(receipt, {"return_id": "LATE"})
    )
    assert (back["points_restored"], back["expired_at_once"]) == (100, 100)
    page = as_role("support").get(f"/admin/purchases?receipt_id={receipt}", follow_redirects=True)
    assert "(of which 100 expired at once)" in text_of(page.text)
    portal_sign_in(anon, world)
    history = text_of(anon.get("/portal").text)
    # the member reads it in plain words (issue 20), was "return: 100 points restored"
    assert "100 points returned to you for a returned purchase" in history
    assert "of which 100 expired at once" in history
