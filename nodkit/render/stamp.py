"""Stamp a ready-made report (kind = "reports") and encrypt it, in memory.

Every page of a report another system made gets nodkit's small footer (title,
unit, "Data pr.", "Side X af Y", "Fortroligt") and the page code (set, file,
page, content check; pagecode.py) as an *overlay*: a one-page reportlab
drawing per page placed over the page with pikepdf. The report is never
re-rendered; its own content and fonts are left as they are, and nodkit never
reads its text.

Rules kept here:
- The stamp sits in a fixed box at a configurable corner (`stamp_box`), so a
  site can put it where its reports leave the page blank; it has no
  background, so should a report draw there after all, nothing of the
  report is hidden.
- Form fields are flattened into the page (their values print; a binder
  cannot carry another PDF's form), inherited page attributes are pushed
  down to each page and page rotation is flattened, so the stamped pages
  can be copied into a binder as they are. Document-level actions
  (/OpenAction, /AA) are dropped: the kit PC prints, it runs no scripts.
- The plain stamped PDF exists only in this process's memory: what leaves
  `stamp_and_encrypt` is encrypted per audience.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from dataclasses import dataclass

import pikepdf
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from nodkit.render import fonts, pagecode
from nodkit.render.document import RED, fmt_time
from nodkit.security import crypto

STAMP_W = 96 * mm
STAMP_H = 11 * mm
CODE_SIZE = 11 * mm
GAP = 2 * mm


@dataclass
class StampedReport:
    pages: int
    encrypted: dict[str, bytes]  # audience -> the stamped report, encrypted with its password
    check: str
    encrypt_seconds: float


def stamp_box(page_w: float, page_h: float, position: str, margin_mm: float) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in points of the stamp on a page of that size (as it is seen, origin lower left)."""
    margin = margin_mm * mm
    vertical, horizontal = position.split("-")
    y0 = margin if vertical == "bottom" else page_h - margin - STAMP_H
    if horizontal == "left":
        x0 = margin
    elif horizontal == "right":
        x0 = page_w - margin - STAMP_W
    else:
        x0 = (page_w - STAMP_W) / 2
    return x0, y0, x0 + STAMP_W, y0 + STAMP_H


def _fit(text: str, font: str, size: float, width: float) -> str:
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _overlay(sizes: list[tuple[float, float]], *, position: str, margin_mm: float, title: str, unit: str,
             kit_name: str, as_of: dt.datetime, generated_at: dt.datetime, set_id: str, file_label: str,
             check: str) -> bytes:
    """One page per report page, the size of that page, blank but for the stamp."""
    fonts.register()
    buf = io.BytesIO()
    c = Canvas(buf, pageCompression=1)
    total = len(sizes)
    for page, (w, h) in enumerate(sizes, start=1):
        c.setPageSize((w, h))
        x0, y0, x1, _ = stamp_box(w, h, position, margin_mm)
        code_left = position.endswith("left")
        qx = x0 if code_left else x1 - CODE_SIZE
        tx = x0 + CODE_SIZE + GAP if code_left else x0
        width = STAMP_W - CODE_SIZE - GAP
        pagecode.draw(c, pagecode.payload(set_id or "-", file_label or "-", page, check), qx, y0, CODE_SIZE)
        lines = [
            (fonts.BOLD, 6.8, RED, _fit(f"FORTROLIGT · {title} – {unit}", fonts.BOLD, 6.8, width)),
            (fonts.REGULAR, 6.8, colors.black,
             _fit(f"Data pr. {fmt_time(as_of)} · Dannet {fmt_time(generated_at)} · Side {page} af {total}",
                  fonts.REGULAR, 6.8, width)),
            (fonts.REGULAR, 5.6, colors.Color(0.35, 0.35, 0.35),
             _fit(f"Sæt {set_id or '-'} · {file_label or '-'} · side {page} · kontrol {check}",
                  fonts.REGULAR, 5.6, width)),
            (fonts.REGULAR, 5.6, colors.Color(0.35, 0.35, 0.35),
             _fit(f"{kit_name} · rapport fra kildesystemet", fonts.REGULAR, 5.6, width)),
        ]
        y = y0 + STAMP_H - 6.8
        for font, size, color, text in lines:
            c.setFont(font, size)
            c.setFillColor(color)
            c.drawString(tx, y, text)
            y -= size + 1.6
        c.showPage()
    c.save()
    return buf.getvalue()


def _prepare_pages(pdf: pikepdf.Pdf) -> None:
    """Forms flattened, inherited attributes on each page, rotation flattened, no document actions."""
    if "/AcroForm" in pdf.Root:
        try:
            pdf.generate_appearance_streams()
        except pikepdf.PdfError:
            pass  # fields without a usable appearance keep what they had
        pdf.flatten_annotations("print")
        if "/AcroForm" in pdf.Root:
            del pdf.Root.AcroForm
    for key in ("/OpenAction", "/AA"):
        if key in pdf.Root:
            del pdf.Root[key]
    for page in pdf.pages:
        node = page.obj
        for key in ("/Resources", "/MediaBox", "/CropBox", "/Rotate"):
            if key not in node:
                parent = node.get("/Parent")
                while parent is not None and key not in parent:
                    parent = parent.get("/Parent")
                if parent is not None:
                    node[key] = parent[key]
        if "/Resources" not in node:
            node.Resources = pikepdf.Dictionary()
        if page.rotation % 360:
            page.flatten_rotation()


def stamp_and_encrypt(data: bytes, source_password: str | None, passwords: dict[str, str], *, position: str,
                      margin_mm: float, title: str, unit: str, kit_name: str, as_of: dt.datetime,
                      generated_at: dt.datetime, set_id: str, file_label: str, source_sha256: str) -> StampedReport:
    """The report stamped on every page, encrypted for each audience in `passwords`."""
    check = pagecode.content_check(as_of.isoformat(), [[source_sha256]])
    with pikepdf.open(io.BytesIO(data), password=source_password or "") as pdf:
        _prepare_pages(pdf)
        boxes = [page.cropbox for page in pdf.pages]
        sizes = [(float(b[2]) - float(b[0]), float(b[3]) - float(b[1])) for b in boxes]
        overlay_pdf = _overlay(sizes, position=position, margin_mm=margin_mm, title=title, unit=unit,
                               kit_name=kit_name, as_of=as_of, generated_at=generated_at, set_id=set_id,
                               file_label=file_label, check=check)
        with pikepdf.open(io.BytesIO(overlay_pdf)) as overlay:
            for page, stamp, box in zip(pdf.pages, overlay.pages, boxes):
                page.add_overlay(stamp, pikepdf.Rectangle(*[float(v) for v in box]))
            pages = len(pdf.pages)
            started = time.process_time()
            encrypted = {audience: crypto.save_encrypted(pdf, password) for audience, password in passwords.items()}
    return StampedReport(pages=pages, encrypted=encrypted, check=check,
                         encrypt_seconds=time.process_time() - started)
