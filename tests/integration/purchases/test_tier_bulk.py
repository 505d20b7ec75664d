"""A recompute's plain rises written in bulk by the database (``TierRepo.raise_in_bulk``)
leave exactly what the member-by-member Python path leaves: the same standings, effective
tiers, history lines and ``tier.changed`` events, and the same report, for members in
every kind of state (no tier, each tier, a code the rules no longer have, a manual floor,
a grace period, a stored tier that differs from the earned one)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from kopilka.services import tiers
from kopilka.store.repos.outbox import OutboxRepo
from kopilka.store.repos.tiers import TierRepo

from .test_tier_screen import DOCUMENT, members_in_every_state

# a history line's fields but its id
HISTORY = ("from_tier", "to_tier", "at", "reason", "metrics", "thresholds")
HISTORY += ("rule_version", "actor", "note")


def _world(ctx, clock, rules_program, make_member) -> tuple[Any, list[int]]:
    program = rules_program(DOCUMENT % {"combine": "any", "downgrade": "{mode: never}"})
    return program, members_in_every_state(ctx, clock, program, make_member)


def _state(ctx, ids: list[int]) -> list[Any]:
    """Everything a recompute writes for each member, the member named by position."""
    found = []
    with ctx.uow(read_only=True) as uow:
        repo, outbox = TierRepo(uow.conn), OutboxRepo(uow.conn)
        for place, member_id in enumerate(ids):
            standing = repo.standing(member_id)
            standing.member_id = place
            history = [tuple(getattr(c, name) for name in HISTORY) for c in repo.history(member_id)]
            events = []
            for e in outbox.for_member(member_id):
                if e.type != "tier.changed":
                    continue
                # a random UUID's text, as Python writes one, whoever made it
                assert uuid.UUID(e.id).version == 4
                assert str(uuid.UUID(e.id)) == e.id
                payload = dict(e.payload, member_id=place)
                events.append((e.seq, e.schema_version, payload, e.created_at))
            code = (repo.tier_code(member_id), repo.tier_until(member_id))
            found.append((standing, code, history, events))
    return found


def _recompute(ctx, program, ids: list[int]) -> dict[str, Any]:
    report = tiers.recompute_tiers(ctx, program)
    place = {m: i for i, m in enumerate(ids)}
    changes = sorted(
        (place[c["member_id"]], c["from_tier"], c["to_tier"]) for c in report["changes"]
    )
    counts = {k: v for k, v in report.items() if k not in ("changes", "program")}
    return {"counts": counts, "changes": changes}


def test_bulk_rises_write_what_the_python_path_writes(
    ctx, clock, rules_program, make_member, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two identical programs, one recomputed member by member in Python, the other with
    its plain rises in bulk (on PostgreSQL too: the bulk path taken from one member up):
    the reports and every member's rows agree, and the bulk path did raise members."""
    python_program, python_ids = _world(ctx, clock, rules_program, make_member)
    bulk_program, bulk_ids = _world(ctx, clock, rules_program, make_member)
    assert _state(ctx, python_ids) == _state(ctx, bulk_ids)

    with monkeypatch.context() as patch:
        patch.setattr(tiers, "_bulk_rise", lambda *args, **kwargs: None)
        by_python = _recompute(ctx, python_program, python_ids)

    raised: list[int] = []
    real = TierRepo.raise_in_bulk

    def counted(self: TierRepo, *args: Any, **kwargs: Any) -> Any:
        found = real(self, *args, **kwargs)
        raised.extend(m for m, _, _ in found)
        return found

    monkeypatch.setattr(tiers, "BULK_FROM", 1)
    monkeypatch.setattr(TierRepo, "raise_in_bulk", counted)
    in_bulk = _recompute(ctx, bulk_program, bulk_ids)

    assert by_python == in_bulk
    assert by_python["counts"]["upgraded"] > 0
    # the plain rises (no tier or a lower one, no floor, not in grace) went in bulk; the
    # rest (a manual floor, grace, a differing stored tier) member by member
    assert 0 < len(raised) < by_python["counts"]["upgraded"]
    assert _state(ctx, python_ids) == _state(ctx, bulk_ids)
    # run again: nothing left to raise, in bulk or otherwise
    again = _recompute(ctx, bulk_program, bulk_ids)
    assert again["counts"]["upgraded"] == 0


def test_no_bulk_when_a_rise_gives_a_welcome_bonus(ctx, clock, rules_program) -> None:
    """A welcome bonus on reaching a tier is a ledger earning per member: the recompute
    then decides every member in Python (``_bulk_rise`` answers nothing); without one it
    takes the bulk path."""
    welcome = (
        "  - {id: welcome-silver, kind: event, event: tier_reached, points: 100, "
        'when: {tiers: [silver]}, description: "Welcome"}\n'
    )
    plain = DOCUMENT % {"combine": "any", "downgrade": "{mode: never}"}
    at = clock.now()
    for document, bulk in (
        (plain, True),
        (plain.replace("tiers:\n", welcome + "tiers:\n", 1), False),
    ):
        program = rules_program(document)
        with ctx.uow(read_only=True) as uow:
            found = tiers.tiers_at(uow, program, at)
            assert found is not None
            assert (tiers._bulk_rise(uow, program, found, at) is not None) is bulk


@pytest.mark.parametrize("recompute", [True, False])
def test_batches_at_once_write_what_one_at_a_time_writes(
    ctx, clock, rules_program, make_member, monkeypatch: pytest.MonkeyPatch, recompute: bool
) -> None:
    """A walk of batches of three members, two batches at once on PostgreSQL (on two
    threads, each its own transaction), against the same walk one batch at a time: the
    same rows and the same report, progress ticked per batch in order."""
    serial_program, serial_ids = _world(ctx, clock, rules_program, make_member)
    parallel_program, parallel_ids = _world(ctx, clock, rules_program, make_member)
    monkeypatch.setattr(tiers, "BATCH", 3)
    year_end = datetime(2027, 1, 1, tzinfo=UTC)

    def walk(program: Any, ids: list[int]) -> tuple[dict[str, Any], list[int], set[str]]:
        ticks: list[int] = []
        threads: set[str] = set()
        real = tiers._walk_batch

        def spied(*args: Any, **kwargs: Any) -> Any:
            threads.add(threading.current_thread().name)
            return real(*args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(tiers, "_walk_batch", spied)
            if recompute:
                report = tiers.recompute_tiers(ctx, program, tick=ticks.append)
            else:
                report = tiers.review_tiers(ctx, program, year_end, tick=ticks.append)
        place = {m: i for i, m in enumerate(ids)}
        listed = [(place[c["member_id"]], c["from_tier"], c["to_tier"]) for c in report["changes"]]
        counts = {k: v for k, v in report.items() if k not in ("changes", "program")}
        return {"counts": counts, "changes": listed}, ticks, threads

    with monkeypatch.context() as patch:
        patch.setattr(tiers, "PARALLEL_BATCHES", 1)
        one, one_ticks, _ = walk(serial_program, serial_ids)
    two, two_ticks, threads = walk(parallel_program, parallel_ids)
    assert one == two  # the changes listed batch by batch, in the batches' order
    assert one["counts"]["upgraded"] > 0
    assert (
        one_ticks
        == two_ticks
        == [3] * (len(serial_ids) // 3) + [len(serial_ids) % 3] * (len(serial_ids) % 3 > 0)
    )
    if ctx.engine.dialect.name == "postgresql":
        assert len(threads) == 2
    assert _state(ctx, serial_ids) == _state(ctx, parallel_ids)
