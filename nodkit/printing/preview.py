"""The first page of a decrypted list as a PNG, rendered in memory.

The kiosk shows it before printing so the person sees that it is the right
list. pypdfium2 (PDFium, a binary wheel on Linux and Windows) renders from the
bytes in this process: the plain PDF and the image never touch the disk
(DESIGN rule 2). The caller audits every preview like a print.
"""

from __future__ import annotations

import io
import logging
import threading
from contextlib import contextmanager

from nodkit.errors import PrintError
from nodkit.printing.spooler import CALL_IT

log = logging.getLogger(__name__)

WIDTH = 900  # pixels: readable on a kiosk screen, small enough to send quickly
_PDFIUM = threading.Lock()  # PDFium is not thread-safe; the kiosk's server is threaded


@contextmanager
def _opened(plain_pdf: bytes):
    """The document under the PDFium lock; an unreadable PDF is a PrintError."""
    import pypdfium2 as pdfium
    with _PDFIUM:
        try:
            doc = pdfium.PdfDocument(plain_pdf)
        except pdfium.PdfiumError as exc:
            raise PrintError(f"Listen kan ikke læses ({exc}). " + CALL_IT) from None
        try:
            yield doc
        finally:
            doc.close()


def first_page_png(plain_pdf: bytes, width: int = WIDTH) -> bytes:
    """PNG bytes of page 1 of an unencrypted PDF held in memory."""
    with _opened(plain_pdf) as doc:
        page = doc[0]
        image = page.render(scale=width / page.get_width()).to_pil()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def page_texts(plain_pdf: bytes, indices: list[int]) -> list[str]:
    """The text PDFium reads from the pages `indices` (0-based) of an unencrypted PDF in memory."""
    with _opened(plain_pdf) as doc:
        texts = []
        for index in indices:
            page = doc[index]
            textpage = page.get_textpage()
            try:
                texts.append(textpage.get_text_range())
            finally:
                textpage.close()
                page.close()
        return texts


def page_count(plain_pdf: bytes) -> int:
    with _opened(plain_pdf) as doc:
        return len(doc)
