"""The first page of a decrypted list as a PNG, rendered in memory.

The kiosk shows it before printing so the person sees that it is the right
list. pypdfium2 (PDFium, a binary wheel on Linux and Windows) renders from the
bytes in this process: the plain PDF and the image never touch the disk
(DESIGN rule 2). The caller audits every preview like a print.
"""

from __future__ import annotations

import io
import logging

from nodkit.errors import PrintError
from nodkit.printing.spooler import CALL_IT

log = logging.getLogger(__name__)

WIDTH = 900  # pixels: readable on a kiosk screen, small enough to send quickly


def first_page_png(plain_pdf: bytes, width: int = WIDTH) -> bytes:
    """PNG bytes of page 1 of an unencrypted PDF held in memory."""
    import pypdfium2 as pdfium
    try:
        doc = pdfium.PdfDocument(plain_pdf)
    except pdfium.PdfiumError as exc:
        raise PrintError(f"Forhåndsvisningen kan ikke laves ({exc}). " + CALL_IT) from None
    try:
        page = doc[0]
        scale = width / page.get_width()
        image = page.render(scale=scale).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()
    finally:
        doc.close()


def page_count(plain_pdf: bytes) -> int:
    import pypdfium2 as pdfium
    doc = pdfium.PdfDocument(plain_pdf)
    try:
        return len(doc)
    finally:
        doc.close()
