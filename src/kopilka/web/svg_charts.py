"""Charts drawn on the server as inline SVG: no script, no CDN, readable without either.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by its
``<desc>`` (``aria-labelledby``); the page puts its numbers in a table next to it, so the
drawing is never the only way to read them. Every text is escaped here; the result is
markup the templates insert as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 36
# colours with enough contrast on white, told apart by shape and pattern too
COLOURS = ("#0b6bcb", "#17703a", "#a61b1b", "#6b4fbb", "#8a5a00")


def _open(chart_id: str, title: str, desc: str, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'class="chart" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        f'width="100%" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
    ]


def _axis(lo: float, hi: float, fmt: str = "{:,.0f}") -> list[str]:
    """The frame and three labelled gridlines (low, middle, high)."""
    out = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(3):
        value = lo + (hi - lo) * i / 2
        y = TOP + plot_h - plot_h * i / 2
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dde1e7"/>'
        )
        out.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#1d2430">{escape(fmt.format(value))}</text>'
        )
    return out


def _x_labels(labels: Sequence[str], step: float) -> list[str]:
    out = []
    every = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = LEFT + step * (i + 0.5)
        out.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'font-size="11" fill="#1d2430">{escape(label)}</text>'
        )
    return out


def _scale(values: Sequence[float]) -> tuple[float, float]:
    lo = min(0.0, *values) if values else 0.0
    hi = max(1.0, *values) if values else 1.0
    return lo, hi


def line_chart(
    chart_id: str, title: str, desc: str, labels: Sequence[str], values: Sequence[float]
) -> Markup:
    """One series as a line over the labels."""
    parts = _open(chart_id, title, desc)
    lo, hi = _scale(values)
    parts += _axis(lo, hi)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(values), 1)
    points = " ".join(
        f"{LEFT + step * (i + 0.5):.1f},{TOP + plot_h - plot_h * (v - lo) / (hi - lo):.1f}"
        for i, v in enumerate(values)
    )
    if points:
        parts.append(
            f'<polyline fill="none" stroke="{COLOURS[0]}" stroke-width="2" points="{points}"/>'
        )
    parts += _x_labels(labels, step)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    limit: Sequence[float | None] | None = None,
    fmt: str = "{:,.0f}",
) -> Markup:
    """Grouped bars, one group per label and a bar per series, with a legend; ``limit``:
    a dashed mark per group (a cap)."""
    parts = _open(chart_id, title, desc)
    every = [v for _, vs in series for v in vs] + [v for v in (limit or []) if v is not None]
    lo, hi = _scale(every)
    parts += _axis(lo, hi, fmt)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels), 1)
    width = step * 0.8 / max(len(series), 1)

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * (v - lo) / (hi - lo)

    for s, (_, values) in enumerate(series):
        for i, v in enumerate(values):
            x = LEFT + step * i + step * 0.1 + width * s
            top, base = y(max(v, 0)), y(min(v, 0))
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(width - 1, 1):.1f}" '
                f'height="{max(base - top, 0):.1f}" fill="{COLOURS[s % len(COLOURS)]}"/>'
            )
    for i, cap in enumerate(limit or []):
        if cap is None:
            continue
        x = LEFT + step * i
        parts.append(
            f'<line x1="{x + step * 0.05:.1f}" x2="{x + step * 0.95:.1f}" y1="{y(cap):.1f}" '
            f'y2="{y(cap):.1f}" stroke="#1d2430" stroke-width="2" stroke-dasharray="4 3"/>'
        )
    parts += _x_labels(labels, step)
    for s, (name, _) in enumerate(series):
        x = LEFT + 130 * s
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 12}" width="10" height="10" '
            f'fill="{COLOURS[s % len(COLOURS)]}"/><text x="{x + 14}" y="{HEIGHT - 3}" '
            f'font-size="11" fill="#1d2430">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def heat_map(
    chart_id: str,
    title: str,
    desc: str,
    rows: Sequence[str],
    cells: Sequence[Sequence[float | None]],
) -> Markup:
    """A grid: a row per label, a cell per column, the darker the larger (0 to 1), each
    cell's percentage written in it."""
    columns = max((len(r) for r in cells), default=0)
    cell_w = (WIDTH - LEFT - RIGHT) / max(columns, 1)
    cell_h = 22
    height = TOP + cell_h * len(rows) + BOTTOM
    parts = _open(chart_id, title, desc, height)
    for r, (label, row) in enumerate(zip(rows, cells, strict=True)):
        y = TOP + cell_h * r
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 15}" text-anchor="end" font-size="11" '
            f'fill="#1d2430">{escape(label)}</text>'
        )
        for c, share in enumerate(row):
            if share is None:
                continue
            x = LEFT + cell_w * c
            dark = share > 0.5
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{cell_w - 1:.1f}" height="{cell_h - 1}" '
                f'fill="{COLOURS[0]}" fill-opacity="{0.08 + 0.92 * share:.2f}"/>'
                f'<text x="{x + cell_w / 2:.1f}" y="{y + 15}" text-anchor="middle" '
                f'font-size="10" fill="{"#fff" if dark else "#1d2430"}">{share * 100:.0f}%</text>'
            )
    for c in range(columns):
        x = LEFT + cell_w * (c + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{height - BOTTOM + 16}" text-anchor="middle" '
            f'font-size="11" fill="#1d2430">+{c}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
