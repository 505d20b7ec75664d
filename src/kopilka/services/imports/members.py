"""Importing members in bulk: one transaction per batch, resumable, idempotent.

A row whose identifiers all belong to one existing member is that member, imported
before: it is counted as ``already`` and left as it is. A row sharing an identifier
with another member, or with an earlier row of the file, is rejected.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection

from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.imports.files import Source, check_columns, open_source, read_rows
from kopilka.services.imports.rows import (
    MEMBER_COLUMNS,
    MEMBER_PREFIXES,
    MemberRow,
    RowError,
    member_columns,
    parse_member,
)
from kopilka.services.imports.run import (
    BATCH,
    BatchHook,
    Counts,
    GrowingStatistics,
    ImportReport,
    Progress,
    Rejects,
    advance,
    batched,
    check_on_error,
    finish,
    new_report,
    open_run,
    rejected_error,
)
from kopilka.store.bulk.lookup import find_identifiers
from kopilka.store.bulk.writer import BulkWriter

MEMBER_COLS = (
    "id",
    "program_id",
    "status",
    "first_name",
    "last_name",
    "birthday",
    "gender",
    "attributes",
    "tier_code",
    "referral_code",
    "lifetime_spend_minor",
    "purchase_count",
    "enrolled_at",
    "blocked_reason",
)

Item = tuple[int, MemberRow | None, list[RowError]]


def _rows(source: Source, start: int, now: datetime) -> Iterator[Item]:
    """``(end, member row or None, errors)`` per row from ``start`` on."""
    names = member_columns(source.columns)
    for index, line, values in read_rows(source, names, start):
        if values is None:
            err = RowError(line, "", "validation_error", "row", "wrong number of cells")
            yield index + 1, None, [err]
            continue
        try:
            yield index + 1, parse_member(names, values, line, now), []
        except ValidationError as e:
            yield index + 1, None, [RowError.of(line, "", e)]


def _sort_out(
    conn: Connection, program: Program, rows: list[MemberRow], seen: dict[tuple[str, str], int]
) -> tuple[list[MemberRow], int, list[RowError]]:
    """New members, how many exist already, and conflicting rows."""
    pairs = [(str(k), v) for r in rows for k, v in r.identifiers]
    found = find_identifiers(conn, program.id, pairs)
    new, already, errors = [], 0, []
    for r in rows:
        owners = {found.get((str(k), v)) for k, v in r.identifiers}
        dup = next(((k, v) for k, v in r.identifiers if (str(k), v) in seen), None)
        if dup is not None:
            errors.append(
                RowError(
                    r.line,
                    r.key,
                    "duplicate_identifier",
                    str(dup[0]),
                    f"this {dup[0]} is already on line {seen[(str(dup[0]), dup[1])]}",
                )
            )
            continue
        for k, v in r.identifiers:
            seen[(str(k), v)] = r.line
        if owners == {None}:
            new.append(r)
        elif None not in owners and len(owners) == 1:
            already += 1
        else:
            errors.append(
                RowError(
                    r.line,
                    r.key,
                    "duplicate_identifier",
                    "identifiers",
                    "an identifier of this row belongs to another member",
                )
            )
    return new, already, errors


def _write(writer: BulkWriter, program: Program, rows: list[MemberRow]) -> None:
    ts, js = writer.ts, writer.js
    people: list[tuple[object, ...]] = []
    balances: list[tuple[object, ...]] = []
    idents: list[tuple[object, ...]] = []
    consents: list[tuple[object, ...]] = []
    for r in rows:
        mid = writer.next_id("members")
        p = r.profile
        birthday = p.get("birthday")  # a date from clean_profile, or absent
        people.append(
            (
                mid,
                program.id,
                str(r.status),
                p.get("first_name"),
                p.get("last_name"),
                writer.day(birthday if isinstance(birthday, date) else None),
                p.get("gender"),
                js(p.get("attributes") or {}),
                p.get("tier_code"),
                # longer than enrollment's codes: a batch never collides with itself
                secrets.token_hex(8).upper(),
                0,
                0,
                ts(r.enrolled_at),
                r.blocked_reason,
            )
        )
        balances.append((mid, program.id, 0, 0, 0))
        idents.extend((program.id, mid, str(k), v) for k, v in r.identifiers)
        consents.extend(
            (mid, purpose, granted, "import", ts(r.enrolled_at)) for purpose, granted in r.consents
        )
    writer.insert("members", MEMBER_COLS, people)
    writer.insert(
        "member_balances", ("member_id", "program_id", "available", "pending", "held"), balances
    )
    writer.insert("member_identifiers", ("program_id", "member_id", "kind", "value"), idents)
    writer.insert(
        "consents", ("member_id", "purpose", "granted", "channel", "recorded_at"), consents
    )


def import_members(
    ctx: ServiceContext,
    program: Program,
    path: Path,
    *,
    fmt: str | None = None,
    on_error: str = "skip",
    batch_size: int = BATCH,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    before_commit: BatchHook | None = None,
) -> ImportReport:
    """Enroll the members of a file in bulk (see :mod:`kopilka.services.imports.rows`)."""
    mode = check_on_error(on_error)
    if batch_size < 1:
        raise ValidationError("batch size must be positive", field="batch_size")
    started = time.perf_counter()
    source = open_source(path, fmt)
    check_columns(source, MEMBER_COLUMNS, (), MEMBER_PREFIXES)
    cp = open_run(ctx, program, "members", source)
    report = new_report("members", source, cp)
    if cp.done:
        return report
    rejects = Rejects(
        rejects_path or path.with_name(path.name + ".rejects.csv"), source, cp.rows_done == 0
    )
    report.rejects_file = str(rejects.path)
    now = ctx.now()
    if mode == "reject":
        seen: dict[tuple[str, str], int] = {}
        errors: list[RowError] = []
        for chunk in batched(_rows(source, cp.rows_done, now), batch_size):
            errors.extend(e for _, _, errs in chunk for e in errs)
            with ctx.uow(read_only=True) as uow:
                rows = [r for _, r, _ in chunk if r is not None]
                errors.extend(_sort_out(uow.conn, program, rows, seen)[2])
        if errors:
            raise rejected_error(rejects, errors, "members")
    seen = {}
    rows_done = cp.rows_done
    statistics = GrowingStatistics(ctx, "members, member_identifiers, member_balances")
    for number, chunk in enumerate(batched(_rows(source, rows_done, now), batch_size), 1):
        end = chunk[-1][0]
        errors = [e for _, _, errs in chunk for e in errs]
        with ctx.uow() as uow:
            writer = BulkWriter(uow.conn)
            new, already, conflicts = _sort_out(
                uow.conn, program, [r for _, r, _ in chunk if r is not None], seen
            )
            errors += conflicts
            if errors and mode == "reject":
                raise rejected_error(rejects, errors, "members")
            _write(writer, program, new)
            counts: Counts = {
                "rows": end - rows_done,
                "imported": len(new),
                "already": already,
                "rejected": len(errors),
            }
            advance(uow, program, "members", source, rows_done, end, counts, now)
            if before_commit:
                before_commit(number)
            uow.commit()
        rejects.add(errors)
        if progress:
            progress(end - rows_done)
        rows_done = end
        report.batches += 1
        statistics.after_batch(len(new))
    finish(ctx, program, "members", source, report)
    report.first_errors = rejects.first
    report.seconds = round(time.perf_counter() - started, 3)
    return report
