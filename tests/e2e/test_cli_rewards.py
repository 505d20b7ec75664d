"""``kopilka rewards pool-load`` and ``kopilka rewards issued list|cancel`` on an SQLite
file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kopilka.domain.rewards import Reward, RewardKind, Text
from kopilka.services import programs as program_svc
from kopilka.services import rewards as rewards_svc
from kopilka.services.context import ServiceContext
from kopilka.store.db import make_engine
from tests.e2e.test_cli import cli_on


def test_pool_load_list_and_cancel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CSV (header, blank row, a duplicate) loads into a partner reward's pool; a bad
    row refuses the whole file naming its line; a member redeems; ``issued list`` finds it
    and ``issued cancel`` gives the points back (the program's default)."""
    with cli_on(tmp_path, monkeypatch) as cli:
        cli.ok("db", "upgrade")
        cli.ok("program", "create", "--code", "shop")
        cli.ok("member", "add", "-p", "shop", "--card", "1000-0001")
        cli.ok("points", "earn", "500", "-p", "shop", "--id", "1")
        engine = make_engine(cli.url)
        try:
            ctx = ServiceContext(engine)
            program = program_svc.get_program(ctx, "shop")
            reward = Reward(
                0, 0, "cinema", RewardKind.PARTNER, Text("Cinema", "Кино"), Text("", ""), 100
            )
            rewards_svc.save_reward(ctx, program, rewards_svc.SaveReward(reward, "t"))
        finally:
            engine.dispose()
        bad = tmp_path / "bad.csv"
        bad.write_text("code\nCIN-1\nCIN 2\n", encoding="utf-8")
        refused = cli("rewards", "pool-load", "-p", "shop", "--reward", "cinema", str(bad))
        assert refused.exit_code != 0
        assert "line 3" in refused.stderr
        good = tmp_path / "codes.csv"
        good.write_text("code\nCIN-1\n\nCIN-2\nCIN-1\n", encoding="utf-8")
        loaded = cli.json("rewards", "pool-load", "-p", "shop", "--reward", "cinema", str(good))
        assert loaded == {"added": 2, "duplicates": 1, "free": 2}

        engine = make_engine(cli.url)
        try:
            ctx = ServiceContext(engine)
            program = program_svc.get_program(ctx, "shop")
            found = rewards_svc.reward_by_code(ctx, program, "cinema")
            rewards_svc.redeem_reward(
                ctx, program, rewards_svc.RedeemReward(1, found.id, key="cli-test")
            )
        finally:
            engine.dispose()
        listed = cli.json("rewards", "issued", "list", "-p", "shop", "--member", "1")
        assert [(r["code"], r["status"]) for r in listed] == [("CIN-1", "issued")]
        ended = cli.json(
            "rewards", "issued", "cancel", "-p", "shop", str(listed[0]["id"]), "--reason", "asked"
        )
        assert ended["refunded"] == 100
        assert ended["balance"]["available"] == 500
        again = cli.json("rewards", "issued", "list", "-p", "shop", "--status", "cancelled")
        assert [r["id"] for r in again] == [listed[0]["id"]]
