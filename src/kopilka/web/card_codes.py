"""The member's card as a QR code and a Code 128 barcode, drawn on the server as inline
SVG (no script, no image host): the portal shows both so a till can scan the card from the
member's phone. ``segno`` draws the QR code, ``python-barcode`` the barcode."""

from __future__ import annotations

import io
import re

import barcode
import segno
from barcode.writer import SVGWriter
from markupsafe import Markup

MM = 96 / 25.4  # CSS pixels per millimetre: the barcode is drawn in millimetres


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
    number below it), an ``<svg>`` element."""
    out = io.BytesIO()
    barcode.get("code128", card, writer=SVGWriter()).write(
        out, options={"write_text": False, "module_height": 15.0, "quiet_zone": 4.0}
    )
    svg = out.getvalue().decode()
    svg = svg[svg.index("<svg") :]  # no XML declaration or doctype inside HTML
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    size = re.search(r'width="([\d.]+)mm" height="([\d.]+)mm"', svg)
    if size:
        w, h = (float(v) * MM for v in size.groups())
        svg = svg.replace(
            size.group(0), f'viewBox="0 0 {w:.2f} {h:.2f}" class="barcode" role="img"', 1
        )
    return Markup(svg)  # noqa: S704 (drawn here from the card number)
