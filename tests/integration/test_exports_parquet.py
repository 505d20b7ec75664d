"""The streamed Parquet exports (purchases, entries and members, read on the driver's own
cursor: a server-side one on PostgreSQL) hold the same rows and values as the CSV export
of the same range, at the documented types, on both databases."""

from __future__ import annotations

import csv
import io
from datetime import UTC, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kopilka.domain.analytics import DateRange
from kopilka.services import exports, purchases, rules
from kopilka.services import points as points_svc
from tests import commands
from tests.integration.purchases.conftest import SIMPLE_RULES, basket


def _file(ctx, program, dataset: str, days: DateRange, fmt: exports.ExportFormat) -> bytes:
    query = exports.ExportQuery(dataset, days, fmt)
    return b"".join(exports.export_chunks(ctx, program, query))


@pytest.mark.parametrize("dataset", ["purchases", "entries", "members"])
def test_parquet_rows_equal_the_csv_rows(ctx, clock, make_program, make_member, dataset):
    """Three purchases of two members over two days and points given by hand: the Parquet
    file has the CSV file's rows in the same order, every value the same, times as UTC
    timestamps and whole numbers as int64."""
    program = make_program()
    rules.publish(ctx, program, SIMPLE_RULES, actor="test")
    a, b = make_member(program), make_member(program)
    for member, amount, late in ((a, "1000", 30), (b, "250", 2), (a, "99", 0)):
        body = basket(member, ("1", amount, "bread"), store="s1")
        body["occurred_at"] = (clock.now() - timedelta(hours=late)).isoformat()
        purchases.commit(ctx, program, commands.purchase(ctx, program, body))
    points_svc.earn(ctx, program, points_svc.Earn(b, 40, key="gift"))
    today = clock.now().astimezone(UTC).date()
    days = DateRange(today - timedelta(days=3), today + timedelta(days=1))
    table = pq.read_table(
        io.BytesIO(_file(ctx, program, dataset, days, exports.ExportFormat.PARQUET))
    )
    text = _file(ctx, program, dataset, days, exports.ExportFormat.CSV).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert table.column_names == rows[0]
    assert table.num_rows == len(rows) - 1 > 0
    for column in exports.ExportQuery(dataset, days, exports.ExportFormat.CSV).columns:
        values = table.column(column.name).to_pylist()
        cells = [row[rows[0].index(column.name)] for row in rows[1:]]
        if column.kind == "time":
            assert table.schema.field(column.name).type == pa.timestamp("us", tz="UTC")
            assert [
                None if v is None else v.isoformat().replace("+00:00", "Z") for v in values
            ] == [c or None for c in cells]
        elif column.kind == "int":
            assert table.schema.field(column.name).type == pa.int64()
            assert values == [None if c == "" else int(c) for c in cells]
        else:
            assert [("" if v is None else str(v)) for v in values] == cells
