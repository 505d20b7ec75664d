"""Rich progress bars on stderr, so that stdout stays clean for ``--json``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from kopilka.cli.runtime import err_console


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A bar (or, with no known total, a counter); yields ``advance(n)``."""
    columns = (
        [SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,}")]
        if total is None
        else [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    )
    out = err_console()
    # no bar when stderr is a file or a pipe: it would only leave blank lines there
    with Progress(
        *columns, TimeElapsedColumn(), console=out, transient=True, disable=not out.is_terminal
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
