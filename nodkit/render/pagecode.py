"""The small QR code on every printed page, so an old printout can be matched to its export.

Payload (ASCII, `|`-separated, no personal data):

    nodkit:1|<set id>|<file>|<page>|<check>

- `set id`  the export set (folder under store/sets/)
- `file`    the file inside the audience folder, ``<unit>/<list>.pdf``,
            percent-encoded (Danish letters become %C3%A5 etc.)
- `page`    the page number within that file
- `check`   first 10 hex digits of a SHA-256 over the list's content (data
            time and every printed cell of the unit), so two printouts of the
            same list can be compared even across sets

The same text is printed in small type in the footer. Generated with
reportlab's own QR encoder: offline, no extra dependency.
"""

from __future__ import annotations

import hashlib
from typing import Iterable
from urllib.parse import quote

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing

PREFIX = "nodkit:1"


def content_check(as_of: str, rows: Iterable[Iterable[str]]) -> str:
    """Short hash over the printed content of one list file (linear in the rows)."""
    h = hashlib.sha256(as_of.encode())
    for cells in rows:
        h.update(b"\x1e")
        h.update("\x1f".join(cells).encode("utf-8"))
    return h.hexdigest()[:10]


def payload(set_id: str, file_label: str, page: int, check: str) -> str:
    return f"{PREFIX}|{set_id}|{quote(file_label, safe='/')}|{page}|{check}"


def parse(text: str) -> dict[str, str]:
    """Inverse of `payload` (for tools that read a scanned code)."""
    from urllib.parse import unquote
    prefix, version_rest = text.split(":", 1)
    version, set_id, file_label, page, check = version_rest.split("|")
    if prefix != "nodkit" or version != "1":
        raise ValueError("not a nodkit page code")
    return {"set": set_id, "file": unquote(file_label), "page": page, "check": check}


def draw(canvas, text: str, x: float, y: float, size: float) -> None:
    """Draw the QR code for `text` with its lower-left corner at (x, y), `size` points square."""
    widget = QrCodeWidget(text, barLevel="M", barBorder=0)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)
