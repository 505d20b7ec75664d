"""``ParquetRowsAt``: a booking process of ``import purchases --jobs`` reads its own rows
of a Parquet file by index, and gets exactly what reading the whole file gives."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kopilka.services.imports import files
from kopilka.services.imports.files import ParquetRowsAt, open_source, read_rows
from kopilka.services.imports.rows import PURCHASE_COLUMNS

ROWS = 300


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("p") / "p.parquet"
    table = pa.table(
        {
            "receipt_id": [f"R{i // 3}" for i in range(ROWS)],
            "member_card": [f"C{i % 17}" if i % 5 else "" for i in range(ROWS)],
            "line_id": [str(i % 3) for i in range(ROWS)],
            "amount": pa.array([i * 10 for i in range(ROWS)], pa.decimal128(12, 2)),
        }
    )
    pq.write_table(table, path, row_group_size=23)
    return open_source(path)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, ROWS - 1), unique=True).map(sorted),
    st.integers(1, 4),
    st.sampled_from([7, 50, 32_768]),
)
def test_rows_taken_by_index_are_the_rows_read_in_order(source, indexes, calls, batch):
    everything = {i: values for i, _, values in read_rows(source, PURCHASE_COLUMNS)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(files, "_PARQUET_BATCH", batch)
        file = ParquetRowsAt(source, PURCHASE_COLUMNS)
        got = []
        step = max(1, len(indexes) // calls)
        for part in range(0, len(indexes), step):  # in increasing calls, as a job asks
            got += file.take(indexes[part : part + step])
    assert got == [everything[i] for i in indexes]
