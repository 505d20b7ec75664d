"""A console list as a CSV download: streamed in chunks, cells a spreadsheet will not run."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from fastapi.responses import StreamingResponse

CHUNK_ROWS = 500  # rows written before a chunk goes out


def cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text a member typed that starts like a
    formula (``=``, ``-``, ``@``, a tab) is quoted with an apostrophe. A phone's ``+`` is
    left alone: phones are normalised digits, never a formula."""
    if isinstance(value, str) and value[:1] in ("=", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_download(
    rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...], filename: str, *, moment: str
) -> StreamingResponse:
    """``rows`` as ``filename``: a header of ``columns``, then each row's cells in that
    order, the ``moment`` column's datetime in ISO 8601."""

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for n, row in enumerate(rows):
            at: datetime = row[moment]
            writer.writerow([cell(at.isoformat() if k == moment else row[k]) for k in columns])
            if n % CHUNK_ROWS == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
