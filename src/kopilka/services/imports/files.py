"""Reading import files: CSV or Parquet, row by row, each row with where it came from.

A row is ``(index, line, values)``: ``index`` counts data rows from 0 (the unit of the
resume checkpoint), ``line`` is what a person looks for (the CSV line number, header =
line 1, or the Parquet row index), and ``values`` follows the column names the caller
asked for (``None`` where the file has no such column or the cell is empty).

A CSV file is UTF-8 (a BOM is allowed) with a header row; quoted cells may span lines,
and the reported line is the one the row starts on. A Parquet file may use string,
integer, decimal, boolean, date and timestamp columns (a timestamp without a zone is
read as UTC). The file's SHA-256 identifies it for the checkpoint.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

from kopilka.domain.errors import ValidationError

if TYPE_CHECKING:  # pyarrow is imported where a Parquet file is read (it is slow to import)
    from pyarrow import Array, RecordBatch
    from pyarrow.parquet import ParquetFile

# a row's cells in the order asked for: str (CSV), or what Parquet holds (str, int,
# Decimal, bool, date, datetime), None where empty or absent
Cells = tuple[object, ...]
Row = tuple[int, int, Cells | None]
CSV, PARQUET = "csv", "parquet"
_PARQUET_BATCH = 32_768


@dataclass(frozen=True, slots=True)
class Source:
    """An import file: its format, columns, size and fingerprint."""

    path: Path
    fmt: str
    columns: tuple[str, ...]
    sha256: str
    total_rows: int

    def where(self, line: int) -> str:
        """How a person finds ``line`` in the file: a CSV line or a Parquet row."""
        return f"line {line}" if self.fmt == CSV else f"row {line}"


def _fmt_of(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in (CSV, PARQUET):
            raise ValidationError("format must be csv or parquet", field="format")
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return CSV
    if suffix in (".parquet", ".pq"):
        return PARQUET
    raise ValidationError(
        f"cannot tell the format of {path.name}: name it .csv or .parquet, or give --format",
        field="format",
    )


def open_source(path: Path, fmt: str | None = None) -> Source:
    """Inspect the file: format, header, row count and SHA-256 (one pass over its bytes)."""
    if not path.is_file():
        raise ValidationError(f"no such file: {path}", field="path")
    kind = _fmt_of(path, fmt)
    digest = hashlib.sha256()
    newlines = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            newlines += chunk.count(b"\n")
    if kind == CSV:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), None)
        if not header:
            raise ValidationError(f"{path.name} is empty: a header row is required", field="path")
        columns = tuple(h.strip().lower() for h in header)
        total = max(newlines - 1, 0)
    else:
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(path)
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise ValidationError(f"{path.name} is not a Parquet file: {e}", field="path") from e
        columns = tuple(n.strip().lower() for n in meta.schema_arrow.names)
        total = meta.metadata.num_rows
    return Source(path, kind, columns, digest.hexdigest(), total)


def check_columns(
    source: Source, known: Sequence[str], required: Sequence[str], prefixes: Sequence[str] = ()
) -> None:
    """Refuse unknown columns (a typo would silently drop data) and missing required ones."""
    seen = set()
    for name in source.columns:
        if name in seen:
            raise ValidationError(f"column {name!r} appears twice", field=name)
        seen.add(name)
        if name not in known and not any(name.startswith(p) for p in prefixes):
            raise ValidationError(
                f"unknown column {name!r}; expected some of: {', '.join(known)}", field=name
            )
    for name in required:
        if name not in seen:
            raise ValidationError(f"column {name!r} is required", field=name)


def read_rows(source: Source, wanted: Sequence[str], start: int = 0) -> Iterator[Row]:
    """The data rows from ``start`` on; ``values`` is None for a CSV row of the wrong width."""
    if source.fmt == CSV:
        return _csv_rows(source, wanted, start)
    return _parquet_rows(source, wanted, start)


def _picker(columns: Sequence[str], wanted: Sequence[str]) -> Callable[[list[str]], Cells]:
    """``cells`` (a CSV row of the header's width) -> the wanted values, ``""`` and missing
    columns as ``None``. C-level: an ``itemgetter`` over the positions (a missing column
    reads an extra ``""`` appended to the row) and a dict lookup mapping ``""`` to None.
    The row list is the caller's scratch: it may be extended."""
    width = len(columns)
    pos = [columns.index(w) if w in columns else width for w in wanted]
    pad = width in pos
    blank = {"": None}.get
    if len(pos) < 2:  # itemgetter of one index returns the value, not a 1-tuple

        def pick_few(cells: list[str]) -> Cells:
            if pad:
                cells.append("")
            return tuple(blank(cells[p], cells[p]) for p in pos)

        return pick_few
    get = itemgetter(*pos)
    if pad:

        def pick_padded(cells: list[str]) -> Cells:
            cells.append("")
            vals = get(cells)
            return tuple(map(blank, vals, vals))

        return pick_padded

    def pick(cells: list[str]) -> Cells:
        vals = get(cells)
        return tuple(map(blank, vals, vals))

    return pick


def _csv_rows(source: Source, wanted: Sequence[str], start: int) -> Iterator[Row]:
    pick = _picker(source.columns, wanted)
    width = len(source.columns)
    with source.path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader, None)
        index = 0
        line = reader.line_num + 1
        for cells in reader:
            if index >= start:
                if len(cells) == width:
                    yield index, line, pick(cells)
                elif cells:
                    yield index, line, None
            if cells:
                index += 1
            line = reader.line_num + 1


def _parquet_columns(pf: ParquetFile, wanted: Sequence[str]) -> tuple[list[str], list[int]]:
    """The file's names of the wanted columns, and each wanted column's place among them."""
    names = [n for n in pf.schema_arrow.names if n.strip().lower() in wanted]
    lowered = [n.strip().lower() for n in names]
    return names, [lowered.index(w) if w in lowered else -1 for w in wanted]


def _row_groups_from(pf: ParquetFile, start: int) -> tuple[list[int], int]:
    """The row groups holding row ``start`` and after, and the index of their first row."""
    groups: list[int] = []
    first = 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if first + n > start or groups:
            groups.append(g)
        else:
            first += n
    return groups, first


def _cells(batch: RecordBatch, order: list[int]) -> Iterator[Cells]:
    cols = [_pylist(batch.column(i)) for i in range(batch.num_columns)]
    picked = [cols[p] if p >= 0 else repeat(None, batch.num_rows) for p in order]
    return zip(*picked, strict=True)


def _parquet_rows(source: Source, wanted: Sequence[str], start: int) -> Iterator[Row]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(source.path)
    names, order = _parquet_columns(pf, wanted)
    groups, index = _row_groups_from(pf, start)  # whole row groups before it are skipped
    for batch in pf.iter_batches(batch_size=_PARQUET_BATCH, row_groups=groups, columns=names):
        for cells in _cells(batch, order):
            if index >= start:
                yield index, index, cells
            index += 1


class ParquetRowsAt:
    """Rows of a Parquet file by index, asked for in increasing order: a process booking
    some of the file's receipts (``import purchases --jobs``) converts only their rows."""

    def __init__(self, source: Source, wanted: Sequence[str]) -> None:
        import pyarrow.parquet as pq

        self.pf = pq.ParquetFile(source.path)
        self.names, self.order = _parquet_columns(self.pf, wanted)
        self.batches: Iterator[RecordBatch] | None = None
        self.batch: RecordBatch | None = None
        self.first = 0  # index of the current batch's first row

    def take(self, indexes: Sequence[int]) -> list[Cells]:
        """The wanted cells of each row in ``indexes`` (increasing, never below an earlier
        call's), as :func:`read_rows` gives them."""
        import pyarrow as pa

        if self.batches is None and indexes:
            groups, self.first = _row_groups_from(self.pf, indexes[0])
            self.batches = self.pf.iter_batches(
                batch_size=_PARQUET_BATCH, row_groups=groups, columns=self.names
            )
        out: list[Cells] = []
        i = 0
        batch = self.batch
        while i < len(indexes):
            while batch is None or indexes[i] >= self.first + batch.num_rows:
                if batch is not None:
                    self.first += batch.num_rows
                assert self.batches is not None
                batch = self.batch = next(self.batches)
            stop = self.first + batch.num_rows
            j = i
            while j < len(indexes) and indexes[j] < stop:
                j += 1
            rows = batch.take(pa.array([k - self.first for k in indexes[i:j]], pa.int64()))
            out += _cells(rows, self.order)
            i = j
        return out


def _pylist(arr: Array) -> list[object]:
    """A column as Python values, ``""`` as ``None`` (what :func:`_picker` does per cell).

    Strings are blanked in Arrow; timestamps and dates, which repeat on every line of a
    receipt and are slow to convert one by one, are converted once per distinct value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = arr.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.if_else(pc.equal(arr, ""), pa.scalar(None, kind), arr).to_pylist()  # type: ignore[no-any-return]
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        coded = arr.dictionary_encode()
        values = coded.dictionary.to_pylist()
        values.append(None)
        return [values[i] for i in pc.fill_null(coded.indices, len(values) - 1).to_pylist()]
    return arr.to_pylist()  # type: ignore[no-any-return]
