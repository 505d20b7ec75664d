"""Exports for BI: a program's purchases, their lines and awards, its journal entries and
its members over a range of local days, as CSV or Parquet, in the stable column layout of
docs/analytics.md (:data:`DATASETS`: names, order and types; new columns only ever go at
the end).

Rows are read in id order, streamed from the database in batches, and written as they come
(:func:`export_chunks` yields the file's bytes piece by piece: the API streams them, the CLI
and the console write them), so an export of millions of rows holds one batch in memory. A
Parquet file's columns are built by pyarrow from each batch's columns at their fixed types
(no Python work per value: the database's text times are parsed by Arrow's cast). Members' personal
data (names, birthday, gender) is exported only for the roles that see it
(:func:`kopilka.services.member_list.sees_personal_data`); the others get the same file
without those columns.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from kopilka.domain.analytics import DateRange, utc_bounds
from kopilka.domain.errors import ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.store.repos.exports import ExportRepo
from kopilka.store.repos.reports import consistent_snapshot

if TYPE_CHECKING:  # pyarrow is imported when a Parquet file is written (slow to import)
    import pyarrow as pa

PAGE = 50_000
# a Parquet row group per batch: large batches, few groups, a few MiB held at once
BATCH = 131_072
Tick = Callable[[int], None]


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a dataset: its name and type (``int``, ``str``, ``time``, ``date``)."""

    name: str
    kind: str
    personal: bool = False


def _cols(spec: str, personal: str = "") -> tuple[Column, ...]:
    out = []
    for words, is_personal in ((spec, False), (personal, True)):
        for part in words.split():
            name, kind = part.split(":")
            out.append(Column(name, kind, is_personal))
    return tuple(out)


# the stable layouts (docs/analytics.md, "Exports"): change only by adding at the end
DATASETS: dict[str, tuple[Column, ...]] = {
    "purchases": _cols(
        "purchase_id:int receipt_id:str member_id:int occurred_at:time store:str channel:str "
        "total_minor:int discount_minor:int points_earned:int points_redeemed:int "
        "rule_version:int partner:str payment_method:str"
    ),
    "lines": _cols(
        "purchase_id:int receipt_id:str line_id:str sku:str category:str brand:str "
        "quantity:str amount_minor:int discount_minor:int points_earned:int "
        "points_redeemed:int"
    ),
    "awards": _cols(
        "purchase_id:int receipt_id:str line_id:str rule_id:str rule_version:int points:int"
    ),
    "entries": _cols(
        "entry_id:int member_id:int kind:str points:int occurred_at:time "
        "reverses_entry_id:int rule_id:str rule_version:int reference:str"
    ),
    "members": _cols(
        "member_id:int status:str tier:str enrolled_at:time purchase_count:int "
        "lifetime_spend_minor:int",
        "first_name:str last_name:str birthday:date gender:str",
    ),
}


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """What to export: ``dataset`` of the local days ``days`` as ``format``, with
    members' personal data or without."""

    dataset: str
    days: DateRange
    format: ExportFormat = ExportFormat.CSV
    personal_data: bool = False

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValidationError(
                msg(
                    "unknown dataset %(name)s; the datasets are: %(all)s",
                    name=repr(self.dataset),
                    all=", ".join(DATASETS),
                ),
                field="dataset",
            )

    @property
    def columns(self) -> tuple[Column, ...]:
        """The columns this export writes."""
        return tuple(c for c in DATASETS[self.dataset] if self.personal_data or not c.personal)

    def filename(self, program: Program) -> str:
        """``<program>-<dataset>-<from>-<to>.<format>``."""
        return (
            f"{program.code}-{self.dataset}-{self.days.start.isoformat()}-"
            f"{self.days.end.isoformat()}.{self.format.value}"
        )


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def count(ctx: ServiceContext, program: Program, query: ExportQuery) -> int:
    """How many purchases, entries or members the export covers (its progress's total)."""
    lo, hi = utc_bounds(query.days, program.timezone)
    with ctx.uow(read_only=True) as uow:
        return ExportRepo(uow.conn).count(query.dataset, program.id, lo, hi)


def _pages(
    ctx: ServiceContext, program: Program, query: ExportQuery
) -> Iterator[tuple[int, list[list[object]]]]:
    """The export's rows as typed columns' values, page by page, in one consistent read."""
    lo, hi = utc_bounds(query.days, program.timezone)
    kinds = [c.kind for c in query.columns]
    width = len(kinds)
    with ctx.uow(read_only=True) as uow:
        consistent_snapshot(uow.conn)
        for covered, rows in ExportRepo(uow.conn).pages(query.dataset, program.id, lo, hi, PAGE):
            columns: list[list[object]] = [[] for _ in range(width)]
            for row in rows:
                for i in range(width):
                    columns[i].append(row[i])
            for i, kind in enumerate(kinds):
                if kind == "time":
                    columns[i] = [_time(v) for v in columns[i]]
                elif kind == "date":
                    columns[i] = [_date(v) for v in columns[i]]
                elif kind == "int":
                    columns[i] = [None if v is None else int(v) for v in columns[i]]  # type: ignore[call-overload]
            yield covered, columns


def _csv_cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        # a spreadsheet would run it as a formula
        return "'" + value
    return value


def _arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    import pyarrow as pa

    types = {
        "int": pa.int64(),
        "str": pa.string(),
        "time": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
    }
    return pa.schema([pa.field(c.name, types[c.kind]) for c in columns])


class _Sink(io.RawIOBase):
    """A file that keeps what is written until it is taken (a streamed Parquet file)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        data = bytes(b)
        self.parts.append(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts = []
        return data


def export_chunks(
    ctx: ServiceContext, program: Program, query: ExportQuery, tick: Tick | None = None
) -> Iterator[bytes]:
    """The export's file, piece by piece (a CSV header then a piece per page; a Parquet
    file a row group per page); ``tick(n)`` after each page with the purchases, entries or
    members it covered."""
    columns = query.columns
    if query.format is ExportFormat.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([c.name for c in columns])
        yield buffer.getvalue().encode()
        for covered, cols in _pages(ctx, program, query):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(zip(*[[_csv_cell(v) for v in col] for col in cols], strict=True))
            yield buffer.getvalue().encode()
            if tick:
                tick(covered)
        return
    import pyarrow.parquet as pq

    schema = _arrow_schema(columns)
    sink = _Sink()
    with pq.ParquetWriter(sink, schema, compression="zstd") as out:
        for covered, batch in _arrow_batches(ctx, program, query, schema):
            out.write_batch(batch)
            data = sink.take()
            if data:
                yield data
            if tick:
                tick(covered)
    yield sink.take()


def _arrow_column(
    values: Sequence[object], kind: str, type_: pa.DataType, as_text: bool
) -> pa.Array:
    """One column of a batch at its fixed type; text times and dates (SQLite) are cast by
    Arrow, the driver's datetimes (PostgreSQL) converted by it."""
    import pyarrow as pa

    if as_text and kind in ("time", "date"):
        # SQLite's text is UTC, "YYYY-MM-DD HH:MM:SS.ffffff" (a date: "YYYY-MM-DD")
        if kind == "date":
            return pa.array(values, pa.string()).cast(type_)
        return pa.array(values, pa.string()).cast(pa.timestamp("us")).cast(type_)
    return pa.array(values, type_)


def _arrow_batches(
    ctx: ServiceContext, program: Program, query: ExportQuery, schema: pa.Schema
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """The export's rows as Arrow record batches, in one consistent read."""
    import pyarrow as pa

    lo, hi = utc_bounds(query.days, program.timezone)
    kinds = [c.kind for c in query.columns]
    width = len(kinds)
    with ctx.uow(read_only=True) as uow:
        consistent_snapshot(uow.conn)
        repo = ExportRepo(uow.conn)
        as_text = repo.times_as_text
        for covered, rows in repo.batches(query.dataset, program.id, lo, hi, BATCH):
            if not rows:
                continue
            # transposed by zip in C; a row may carry more columns than the export writes
            columns = list(zip(*rows, strict=False))[:width]
            yield (
                covered,
                pa.RecordBatch.from_arrays(
                    [
                        _arrow_column(col, kind, field.type, as_text)
                        for col, kind, field in zip(columns, kinds, schema, strict=True)
                    ],
                    schema=schema,
                ),
            )
