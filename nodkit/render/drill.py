"""The one-page drill sheet printed by an "Øvelse" (kiosk button or `nodkit drill`).

It proves the whole path worked (password, decryption, page counts, the
printer) without putting personal data on paper: it names the kit, the
unit, the set, the data time, the lists checked with their page counts and
the date, under a large "ØVELSE – ikke til brug" so nobody works from it.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from nodkit.lists import values
from nodkit.render import fonts

MARK = "ØVELSE – ikke til brug"


@dataclass
class DrillSheet:
    kit: str
    unit: str
    audience: str
    set_id: str
    as_of: dt.datetime | None
    drilled_at: dt.datetime
    checked: list[tuple[str, int]]  # (list title, pages) each decrypted and counted


def drill_pdf(sheet: DrillSheet) -> bytes:
    fonts.register()
    body = ParagraphStyle("body", fontName=fonts.REGULAR, fontSize=12, leading=16, spaceAfter=4)
    mark = ParagraphStyle("mark", parent=body, fontName=fonts.BOLD, fontSize=30, leading=36, spaceAfter=10)
    head = ParagraphStyle("head", parent=body, fontName=fonts.BOLD, fontSize=14, leading=18, spaceBefore=8)
    e = escape
    data = values.danish_moment(sheet.as_of) if sheet.as_of else "ukendt"
    rows = [["Liste", "Sider", "Tjek"]] + [[title, str(pages), "åbnet og talt"] for title, pages in sheet.checked]
    table = Table(rows, colWidths=[95 * mm, 25 * mm, 45 * mm])
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), fonts.REGULAR, 11),
                               ("FONT", (0, 0), (-1, 0), fonts.BOLD, 11),
                               ("GRID", (0, 0), (-1, -1), 0.5, "#555555")]))
    story = [
        Paragraph(e(MARK), mark),
        Paragraph(f"{e(sheet.kit)} · {e(sheet.unit)} ({e(sheet.audience)})", head),
        Paragraph(f"Øvelse udført {values.danish_moment(sheet.drilled_at)}", body),
        Paragraph(f"Sæt: {e(sheet.set_id)}", body),
        Paragraph(f"Data pr. {e(data)}", body),
        Spacer(1, 4 * mm),
        table,
        Spacer(1, 6 * mm),
        Paragraph("Adgangskoden virkede, listerne kunne åbnes, og sidetallene passede. "
                  "Denne side indeholder ingen oplysninger om borgere eller elever. Smid den ud efter øvelsen.", body),
        Spacer(1, 20 * mm),
        Paragraph(e(MARK), mark),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                      bottomMargin=15 * mm, title=MARK, author=sheet.kit, subject="nodkit drill").build(story)
    return out.getvalue()
