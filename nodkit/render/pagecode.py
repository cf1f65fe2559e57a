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
reportlab's own QR encoder: offline, no extra dependency. Error correction
level M, fixed mask pattern 0: a fixed mask is valid QR (readers try any of
the eight); searching for the "best" mask cost 25 ms a page, which a
300-page list cannot afford.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Iterable
from urllib.parse import quote

from reportlab.graphics.barcode import qrencoder

PREFIX = "nodkit:1"

# reportlab rebuilds the Reed-Solomon generator polynomial for every code (half
# the encoding time); it depends only on the block length and is never mutated.
if not hasattr(qrencoder.QRUtil.getErrorCorrectPolynomial, "cache_info"):
    qrencoder.QRUtil.getErrorCorrectPolynomial = staticmethod(
        functools.lru_cache(maxsize=64)(qrencoder.QRUtil.getErrorCorrectPolynomial))


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


def matrix(text: str) -> list[list[bool]]:
    """The QR module matrix for `text` (rows top to bottom; True = dark)."""
    qr = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    qr.addData(text)
    qr.version = qr.calculate_version()
    qr.makeImpl(False, 0)
    return qr.modules


def draw(canvas, text: str, x: float, y: float, size: float) -> None:
    """Draw the QR code for `text` with its lower-left corner at (x, y), `size` points square.

    One filled path of module-sized rectangles in module units (integer
    coordinates keep the page stream small: about 2 KB a page)."""
    modules = matrix(text)
    n = len(modules)
    ops = []
    for r, row in enumerate(modules):
        top = n - 1 - r
        c = 0
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                ops.append(f"{start} {top} {c - start} 1 re")
            else:
                c += 1
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(size / n, size / n)
    canvas.setFillColorRGB(0, 0, 0)
    canvas.addLiteral("\n".join(ops) + "\nf")
    canvas.restoreState()
