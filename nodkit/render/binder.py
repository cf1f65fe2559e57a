"""The binder ("nødmappe"): one PDF per audience and unit with everything staff need.

Cover page in Danish (unit, contents, data time, valid until, what to do,
whom to call), a table of contents with page numbers, then the unit's lists
and the kit-wide lists, then optional appendices (e.g. a printing guide).

Rules kept here:
- Lists are never rendered twice: the binder is assembled with pikepdf from
  the lists already rendered, either the encrypted list files of the same
  audience (what the export does: opened with the audience password,
  decrypted in memory only) or plaintext PDF bytes in memory. Given the
  password, the binder is encrypted with it in the same save, so a plain
  binder never exists outside the process that builds it.
- Page numbers in the contents are the binder's own page numbers (the list
  pages keep their "Side X af Y" and their page code of the list file, so a
  page torn out of the binder still matches its list in the export).
- The cover and contents carry a page code of their own (pagecode.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from nodkit.security import crypto
from nodkit.render import fonts, pagecode
from nodkit.render.document import MARGIN, QR_SIZE, RED, RenderResult, ZEBRA, fmt_time, wrap_text

log = logging.getLogger(__name__)

WHAT_TO_DO = (
    "Kontrollér \"Data pr.\" øverst på hver side og \"Gyldig til\" herover. Er listerne ældre, "
    "så spørg din leder, om der findes en nyere udskrift fra nødliste-pc'en.",
    "Find dine lister under \"Indhold\" herover; sidetallene er mappens egne. Skal du kun bruge én liste, "
    "så udskriv kun dens sider.",
    "Skriv ændringer i hånden direkte på listen (aflyst besøg, ny medicin, fravær) med tidspunkt og initialer.",
    "Ved tvivl om en borgers medicin eller behandling: ring til den ansvarlige sygeplejerske eller leder.",
    "Listerne er fortrolige. Opbevar dem forsvarligt og aflevér dem til din leder til makulering, "
    "når systemerne virker igen.",
    "Ved fare for liv: ring 112.",
)


@dataclass
class BinderPart:
    """One already-rendered list: plaintext PDF bytes in memory, or the path of
    the list's encrypted file (opened with the binder's password)."""

    title: str
    template: str
    unit: str
    pdf: bytes | Path
    pages: int
    as_of: dt.datetime
    sections: int = 0
    rows: int = 0


@dataclass
class Appendix:
    """An extra PDF appended after the lists, e.g. the printing guide."""

    title: str
    pdf: bytes


@dataclass
class Binder:
    unit: str
    audience_title: str
    kit_name: str
    parts: list[BinderPart]
    generated_at: dt.datetime
    valid_until: dt.datetime
    contacts: list[str] = field(default_factory=list)  # "Funktion · Navn · Telefon" lines for the cover
    appendices: list[Appendix] = field(default_factory=list)


def build_binder(binder: Binder, *, set_id: str = "", file_label: str = "",
                 password: str | None = None, transient_key: bytes | None = None) -> RenderResult:
    """Assemble the binder PDF in memory.

    With `password`: parts given as paths are opened with it and the result's
    `pdf` is the binder encrypted with it (AES-256, as crypto.encrypt_pdf); a
    part sealed with `crypto.seal_transient` is opened with `transient_key`.
    Without: the parts must be plaintext bytes and so is the result.
    """
    fonts.register()
    with contextlib.ExitStack() as opened:  # every PDF opened here is closed, also on an error

        def open_pdf(source: bytes | Path) -> pikepdf.Pdf:
            if isinstance(source, bytes):
                pdf = pikepdf.open(io.BytesIO(source))
            else:
                data = source.read_bytes()
                if crypto.is_transient(data):
                    if transient_key is None:
                        raise crypto.CryptoError(f"{source}: a transient list file, and no key to open it")
                    pdf = pikepdf.open(io.BytesIO(crypto.open_transient(data, transient_key)))
                else:
                    pdf = pikepdf.open(io.BytesIO(data), password=password or "")
            return opened.enter_context(pdf)

        appendices = [open_pdf(a.pdf) for a in binder.appendices]
        appendix_pages = [len(a.pages) for a in appendices]
        toc_pages = 1
        for _ in range(5):  # the contents may need more than one page; its length shifts every number after it
            front, front_pages = _front_matter(binder, toc_pages, appendix_pages, set_id, file_label)
            if front_pages - 1 == toc_pages:
                break
            toc_pages = front_pages - 1
        out = opened.enter_context(pikepdf.new())
        kids = [out.copy_foreign(page.obj) for page in open_pdf(front).pages]
        # the cover's and contents' page numbers are the pages each part is put on, and what the
        # manifest records for the lists printed from the binder (format 4): checked here, as built
        contents = _contents(binder, toc_pages, appendix_pages)
        starts = []
        for part, (*_, first, _last) in zip(binder.parts, contents):
            if first != len(kids) + 1:
                raise RuntimeError(f"binder {binder.unit}: {part.template} starts on page {len(kids) + 1}, "
                                   f"the contents say {first}")
            starts.append((f"{part.title} – {part.unit}", len(kids)))
            source = open_pdf(part.pdf)
            if len(source.pages) != part.pages:
                raise RuntimeError(f"binder {binder.unit}: {part.template} has {len(source.pages)} pages, "
                                   f"{part.pages} expected")
            kids += [out.copy_foreign(page.obj) for page in source.pages]
        for appendix, src in zip(binder.appendices, appendices):
            starts.append((appendix.title, len(kids)))
            kids += [out.copy_foreign(page.obj) for page in src.pages]
        _set_pages(out, kids)
        with out.open_outline() as outline:
            outline.root.append(pikepdf.OutlineItem("Forside og indhold", 0))
            for title, index in starts:
                outline.root.append(pikepdf.OutlineItem(title, index))
        out.docinfo["/Title"] = f"Nødmappe – {binder.unit}"
        out.docinfo["/Author"] = binder.kit_name
        out.docinfo["/Creator"] = "nodkit"
        saving = time.process_time()
        if password is None:
            buf = io.BytesIO()
            out.save(buf)
            data = buf.getvalue()
        else:
            data = crypto.save_encrypted(out, password)
        encrypt_seconds = time.process_time() - saving if password is not None else 0.0
        pages = len(kids)
    check = pagecode.content_check(binder.generated_at.isoformat(), ([p.template, p.unit, str(p.pages)]
                                                                     for p in binder.parts))
    return RenderResult(pdf=data, pages=pages, check=check, encrypt_seconds=encrypt_seconds,
                        first_pages=[index + 1 for _, index in starts[:len(binder.parts)]])


def _set_pages(pdf: pikepdf.Pdf, pages: list[pikepdf.Dictionary]) -> None:
    """Make `pages` (page objects already copied into `pdf`) its page tree: one /Pages node.

    pikepdf's `pages.extend` looks the page list up again for every page it
    adds, which made a 3,000-page binder quadratic; the PDF's page tree itself
    is just this. The pages carry their own /MediaBox and /Resources
    (reportlab writes them on every page), so nothing is inherited from the
    source's page tree.
    """
    tree = pdf.Root.Pages
    for page in pages:
        page.Parent = tree
    tree.Kids = pikepdf.Array(pages)
    tree.Count = len(pages)


def _front_matter(binder: Binder, toc_pages: int, appendix_pages: list[int], set_id: str,
                  file_label: str) -> tuple[bytes, int]:
    """Cover page and contents; returns (pdf bytes, pages)."""
    page_w, page_h = A4
    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, pageCompression=1)
    c.setTitle(f"Nødmappe – {binder.unit}")
    check = pagecode.content_check(binder.generated_at.isoformat(), ([p.template, p.unit, str(p.pages)]
                                                                     for p in binder.parts))
    oldest = min((p.as_of for p in binder.parts), default=binder.generated_at)

    def frame(page: int) -> None:
        top = page_h - MARGIN
        c.setFont(fonts.REGULAR, 8.5)
        c.setFillColor(colors.black)
        c.drawString(MARGIN, top - 8, binder.kit_name)
        c.setFont(fonts.BOLD, 9)
        c.setFillColor(RED)
        c.drawRightString(page_w - MARGIN - QR_SIZE - 3 * mm, top - 8, "FORTROLIGT")
        c.setFillColor(colors.black)
        pagecode.draw(c, pagecode.payload(set_id or "-", file_label or "-", page, check),
                      page_w - MARGIN - QR_SIZE, top - QR_SIZE, QR_SIZE)
        c.setFont(fonts.REGULAR, 6.5)
        c.setFillColor(colors.Color(0.4, 0.4, 0.4))
        c.drawString(MARGIN, MARGIN, f"Sæt {set_id or '-'} · {file_label or '-'} · side {page} · kontrol {check}")
        c.setFillColor(colors.black)

    # cover
    frame(1)
    y = page_h - MARGIN - 30 * mm
    c.setFont(fonts.BOLD, 26)
    c.drawString(MARGIN, y, "Nødmappe")
    y -= 12 * mm
    c.setFont(fonts.BOLD, 20)
    c.drawString(MARGIN, y, binder.unit)
    y -= 8 * mm
    c.setFont(fonts.REGULAR, 12)
    c.drawString(MARGIN, y, binder.audience_title)
    y -= 12 * mm
    for label, value in (("Data pr.", fmt_time(oldest) + (" (ældste liste)" if len(binder.parts) > 1 else "")),
                         ("Dannet", fmt_time(binder.generated_at)),
                         ("Gyldig til", fmt_time(binder.valid_until))):
        c.setFont(fonts.BOLD, 12)
        c.drawString(MARGIN, y, label)
        c.setFont(fonts.REGULAR, 12)
        c.drawString(MARGIN + 28 * mm, y, value)
        y -= 6.5 * mm
    y -= 4 * mm
    entries = _contents(binder, toc_pages, appendix_pages)
    y = _block(c, y, "Indhold", [title + (f" ({unit})" if unit and unit != binder.unit else "") + f" – {_pages_text(first, last)}"
                                 for title, unit, _, first, last in entries], bullet="•")
    y = _block(c, y, "Hvad gør du", list(WHAT_TO_DO), bullet="num")
    if binder.contacts:
        y = _block(c, y, "Hvem ringer du til", binder.contacts, bullet="")
    c.showPage()
    # contents
    page = 2
    frame(page)
    y = page_h - MARGIN - 30 * mm
    c.setFont(fonts.BOLD, 18)
    c.drawString(MARGIN, y, f"Indholdsfortegnelse – {binder.unit}")
    y -= 10 * mm
    row_h = 7 * mm
    c.setFont(fonts.BOLD, 10)
    c.drawString(MARGIN, y, "Liste")
    c.drawString(MARGIN + 80 * mm, y, "Enhed")
    c.drawString(MARGIN + 120 * mm, y, "Data pr.")
    c.drawRightString(page_w - MARGIN, y, "Side")
    y -= row_h
    for i, (title, unit, as_of, first, last) in enumerate(entries):
        if y < MARGIN + 15 * mm:
            c.showPage()
            page += 1
            frame(page)
            y = page_h - MARGIN - 30 * mm
        if i % 2:
            c.setFillColor(ZEBRA)
            c.rect(MARGIN, y - 2.2 * mm, page_w - 2 * MARGIN, row_h, stroke=0, fill=1)
            c.setFillColor(colors.black)
        c.setFont(fonts.REGULAR, 11)
        c.drawString(MARGIN + 1 * mm, y, title)
        c.drawString(MARGIN + 80 * mm, y, unit)
        c.drawString(MARGIN + 120 * mm, y, as_of)
        c.drawRightString(page_w - MARGIN - 1 * mm, y, f"{first}–{last}" if last > first else str(first))
        y -= row_h
    c.showPage()
    c.save()
    return buf.getvalue(), page


def _contents(binder: Binder, toc_pages: int, appendix_pages: list[int]
              ) -> list[tuple[str, str, str, int, int]]:
    """(title, unit, data time, first page, last page) of every part, in the binder's own page numbers:
    the cover is page 1, the contents follow, the lists start after them."""
    entries = []
    number = 1 + toc_pages + 1
    for title, unit, as_of, pages in ([(p.title, p.unit, fmt_time(p.as_of), p.pages) for p in binder.parts]
                                      + [(a.title, "", "", n) for a, n in zip(binder.appendices, appendix_pages)]):
        entries.append((title, unit, as_of, number, number + max(pages, 1) - 1))
        number += pages
    return entries


def _pages_text(first: int, last: int) -> str:
    """"side 3" or "side 3–26": where to find a list in the binder (a page range to print from a PDF reader)."""
    return f"side {first}–{last}" if last > first else f"side {first}"


def _block(c: Canvas, y: float, heading: str, lines: list[str], bullet: str) -> float:
    width = A4[0] - 2 * MARGIN - 8 * mm
    c.setFont(fonts.BOLD, 13)
    c.drawString(MARGIN, y, heading)
    y -= 6.5 * mm
    for n, line in enumerate(lines, start=1):
        mark = f"{n}." if bullet == "num" else bullet
        c.setFont(fonts.REGULAR, 10.5)
        if mark:
            c.drawString(MARGIN, y, mark)
        for part in wrap_text(line, width, fonts.REGULAR, 10.5):
            if y < MARGIN + 10 * mm:
                return y  # the cover is one page; the contents page lists everything in full
            c.drawString(MARGIN + 6 * mm, y, part)
            y -= 5 * mm
        y -= 0.8 * mm
    return y - 4 * mm

