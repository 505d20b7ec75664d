"""Importing members from CSV and Parquet, on both databases."""

from __future__ import annotations

import csv

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kopilka.domain.errors import ValidationError
from kopilka.domain.member import MemberStatus
from kopilka.services import audit, members
from kopilka.services.imports import import_members

HEADER = "external_id,card,phone,email,first_name,birthday,status,segments,consent_sms,attr_city"
GOOD = [
    "ext-1,CARD0001,+7 912 345-67-81,anna@example.com,Anna,1990-02-28,active,vip;students,yes,"
    "Kazan",
    "ext-2,CARD0002,,,Boris,,blocked,,no,",
    "ext-3,,89123456783,,Vera,1985-12-01,,,,Omsk",
]
BAD = [
    "ext-4,CARD0001,,,Dup,,,,,",  # card of line 2
    ",,,,Nobody,,,,,",  # no identifier
    "ext-6,,,,Eve,31-12-1999,,,,",  # bad date
    "ext-7,,,not-an-email,Fay,,,,,",
]


def _csv(tmp_path, lines):
    path = tmp_path / "members.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def test_members_csv_enrolls_profiles_identifiers_consents_and_status(ctx, make_program, tmp_path):
    """Each row becomes a member with its normalised identifiers, profile, consents and status."""
    program = make_program()
    report = import_members(ctx, program, _csv(tmp_path, GOOD))
    assert (report.imported, report.rejected) == (3, 0)
    anna = members.lookup(ctx, program, "phone", "+79123456781")
    assert anna.identifiers == {
        "card": ["CARD0001"],
        "email": ["anna@example.com"],
        "external": ["ext-1"],
        "phone": ["+79123456781"],
    }
    assert anna.attributes == {"city": "Kazan", "segments": ["vip", "students"]}
    assert str(anna.birthday) == "1990-02-28"
    with ctx.uow(read_only=True) as uow:
        assert [(c.purpose, c.granted) for c in uow.members.consents(anna.id)] == [("sms", True)]
    assert members.lookup(ctx, program, "card", "CARD0002").status == MemberStatus.BLOCKED
    assert members.lookup(ctx, program, "phone", "+79123456783").first_name == "Vera"
    assert audit.verify_ledger(ctx, program.id).ok


def test_bad_member_rows_are_skipped_with_line_numbers(ctx, make_program, tmp_path):
    """Duplicates, rows without identifiers and bad values are listed by CSV line."""
    program = make_program()
    report = import_members(ctx, program, _csv(tmp_path, GOOD + BAD), batch_size=2)
    assert (report.imported, report.rejected) == (3, 4)
    with (tmp_path / "members.csv.rejects.csv").open() as f:
        rows = list(csv.reader(f))[1:]
    assert [(int(r[0]), r[2]) for r in rows] == [
        (5, "duplicate_identifier"),
        (6, "validation_error"),
        (7, "validation_error"),
        (8, "validation_error"),
    ]


def test_reject_mode_enrolls_nobody_if_a_member_row_is_bad(ctx, make_program, tmp_path):
    """--on-error reject checks the whole file first and writes nothing on a bad row."""
    program = make_program()
    with pytest.raises(ValidationError) as err:
        import_members(ctx, program, _csv(tmp_path, GOOD + BAD), on_error="reject")
    assert err.value.details["line"] == 5
    assert audit.verify_ledger(ctx, program.id).totals["members"] == 0


def test_members_parquet_import_is_idempotent_and_resumable(ctx, make_program, tmp_path):
    """A Parquet file interrupted mid-way resumes; running it again enrolls nobody twice."""
    program = make_program()
    n = 30
    table = pa.table(
        {
            "card": [f"PQ{i:06d}" for i in range(n)],
            "first_name": [f"Name{i}" for i in range(n)],
            "birthday": pa.array([None] * n, type=pa.date32()),
            "consent_email": [i % 2 == 0 for i in range(n)],
        }
    )
    path = tmp_path / "members.parquet"
    pq.write_table(table, path, row_group_size=7)

    def crash(batch: int) -> None:
        if batch == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        import_members(ctx, program, path, batch_size=10, before_commit=crash)
    assert audit.verify_ledger(ctx, program.id).totals["members"] == 10
    report = import_members(ctx, program, path, batch_size=10)
    assert (report.imported, report.resumed_from_row) == (30, 10)
    assert import_members(ctx, program, path).status == "already_done"
    pq.write_table(table, tmp_path / "again.parquet", row_group_size=3)
    again = import_members(ctx, program, tmp_path / "again.parquet")
    assert (again.imported, again.already) == (0, 30)
    assert audit.verify_ledger(ctx, program.id).totals["members"] == 30
