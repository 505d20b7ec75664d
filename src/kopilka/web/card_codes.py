"""The member's card as a QR code and a Code 128 barcode, drawn on the server as inline
SVG (no script, no image host): the portal shows both so a till can scan the card from the
member's phone. ``segno`` draws the QR code, ``python-barcode`` encodes the barcode's modules."""

from __future__ import annotations

import io
import re

import barcode
import segno
from markupsafe import Markup, escape

QUIET = 10  # modules of white either side of the barcode, as Code 128 asks
BAR_HEIGHT = 50  # in modules: about a quarter of the width of a card number's barcode


def qr_svg(card: str) -> Markup:
    """The card number as a QR code (error correction M), an ``<svg>`` element."""
    out = io.BytesIO()
    segno.make(card, error="m", micro=False).save(
        out, kind="svg", xmldecl=False, svgns=True, scale=4, border=4, svgclass="qr", title=card
    )
    svg = out.getvalue().decode()
    # scales with its box: a viewBox in the drawn pixels, the size left to the page's CSS
    size = re.search(r'width="(\d+)" height="(\d+)"', svg)
    if size:
        w, h = size.groups()
        svg = svg.replace(size.group(0), f'viewBox="0 0 {w} {h}" role="img"', 1)
    return Markup(svg)  # noqa: S704 (drawn here from the card number, which segno encodes)


def barcode_svg(card: str) -> Markup:
    """The card number as a Code 128 barcode without its text (the page prints the
    number below it), an ``<svg>`` element drawn in modules (one unit per narrowest bar)
    so that it scales to the screen's width without blurring into one block."""
    modules = barcode.get("code128", card).build()[0]  # "1" dark, "0" light
    bars = [(m.start() + QUIET, len(m.group())) for m in re.finditer("1+", modules)]
    width = len(modules) + 2 * QUIET
    rects = "".join(f'<rect x="{x}" y="0" width="{w}" height="{BAR_HEIGHT}"/>' for x, w in bars)
    return Markup(  # noqa: S704 (numbers only, drawn here)
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {BAR_HEIGHT}" '
        f'class="barcode" role="img" preserveAspectRatio="none" shape-rendering="crispEdges">'
        # its text, as the QR code's: what a screen reader says of the image
        f"<title>{escape(card)}</title>"
        f'<rect width="{width}" height="{BAR_HEIGHT}" fill="#fff"/><g fill="#000">{rects}</g></svg>'
    )
