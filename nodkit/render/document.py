"""Render one list for one unit to PDF bytes (in memory; nothing touches disk).

Page frame (DESIGN rule 4): every page carries the kit name, list title,
unit, section, "Fortroligt", "Data pr. <snapshot time>", "Dannet <time>" and
"Side X af Y". Column headings are drawn by the page template, so they repeat
on every page without repeating table header rows.

Rows are laid out by `RowTable`, a flowable that wraps cell text itself and
splits only between rows: linear in the number of rows, unlike one huge
platypus Table, which is quadratic (DESIGN.md, measured notes). A row taller
than a page is cut into continuation rows, so no text is ever lost.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import logging
import operator
from dataclasses import dataclass, field

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageBreak, PageTemplate, Paragraph, Spacer
from xml.sax.saxutils import escape as xml_escape

from nodkit.lists import values
from nodkit.render import fonts, pagecode
from nodkit.lists.validate import PreparedList, PreparedRow, UnitList

log = logging.getLogger(__name__)

BODY_SIZE = 10.0  # at least 10 pt: read on a worn printer, in a moving car
LEADING = 12.0
PAD = 3.0
FLAG_W = 4 * mm
MARGIN = 12 * mm
ZEBRA = colors.Color(0.93, 0.94, 0.96)
FLAG_BG = colors.Color(1.0, 0.88, 0.84)
HEAD_BG = colors.Color(0.82, 0.85, 0.90)
RED = colors.Color(0.75, 0.05, 0.05)


fmt_time = values.danish_moment


QR_SIZE = 17 * mm
TICK_BOX = 3.6 * mm


@dataclass
class RenderResult:
    pdf: bytes
    pages: int
    check: str = ""  # content check printed in the page code (see pagecode.py)
    encrypt_seconds: float = 0.0  # CPU seconds of an encrypted save (binders built with a password)
    # a binder: the 1-based first page of each of its parts, in order (the cover's "side 3–26")
    first_pages: list[int] = field(default_factory=list)


def measure_columns(columns, rows: list[PreparedRow]) -> list[dict[str, float] | None]:
    """Each column's distinct texts and their widths in the body font, measured once
    (None for tick-box and write-in columns, which are empty on every row)."""
    measure = pdfmetrics.getFont(fonts.REGULAR).stringWidth
    measured: list[dict[str, float] | None] = []
    for i, col in enumerate(columns):
        if col.type in ("tickbox", "write_in"):
            measured.append(None)
            continue
        distinct = {r.cells[i] for r in rows}
        measured.append(dict(zip(distinct, map(measure, distinct, itertools.repeat(BODY_SIZE)))))
    return measured


def fit_widths(columns, rows: list[PreparedRow], usable: float,
               measured: list[dict[str, float] | None] | None = None) -> list[float]:
    """Column widths that fit the content.

    Starts from the template's relative widths; a column whose longest text
    is narrower than its share gives the surplus to columns that would have
    to wrap, in proportion to their weights. A column never gets narrower
    than the longest word of its heading. Linear in the rows: each distinct
    text is measured once (`measure_columns`; the wrap reuses the widths).
    """
    if measured is None:
        measured = measure_columns(columns, rows)
    total = sum(c.width for c in columns)
    alloc = [usable * c.width / total for c in columns]
    need: list[float] = []
    floors: list[float] = []
    for i, col in enumerate(columns):
        if col.type in ("tickbox", "write_in"):  # empty on every row: the share is the width
            need.append(alloc[i])
            floors.append(alloc[i])
            continue
        natural = max(measured[i].values(), default=0.0)
        floor = max([stringWidth(w, fonts.BOLD, BODY_SIZE) for w in col.heading.split()] + [10 * mm])
        need.append(max(natural, floor) + 2 * PAD + 1)
        floors.append(floor + 2 * PAD + 1)
    widths = list(alloc)
    for _ in range(len(columns)):
        surplus = sum(w - n for w, n in zip(widths, need) if n < w)
        hungry = [i for i, (w, n) in enumerate(zip(widths, need)) if n > w + 0.01]
        if surplus < 1 or not hungry:
            break
        widths = [min(w, n) for w, n in zip(widths, need)]
        weight = sum(columns[i].width for i in hungry)
        for i in hungry:
            widths[i] += surplus * columns[i].width / weight
    # Still too narrow: let the columns that are a little short (a key-box code,
    # a phone number) fit on one line, paid by the columns that wrap anyway,
    # which keep at least 60 % of their share.
    hungry = sorted((i for i, (w, n) in enumerate(zip(widths, need)) if n > w + 0.01),
                    key=lambda i: need[i] - widths[i])
    for pos, i in enumerate(hungry):
        donors = hungry[pos + 1:]
        give = {j: max(0.0, widths[j] - max(0.6 * alloc[j], floors[j])) for j in donors}
        deficit = need[i] - widths[i]
        if sum(give.values()) < deficit:
            continue
        total_give = sum(give.values())
        for j in donors:
            widths[j] -= deficit * give[j] / total_give
        widths[i] = need[i]
    slack = usable - sum(widths)
    if slack > 0.5:  # everything fits: spread what is left by weight
        widths = [w + slack * c.width / total for w, c in zip(widths, columns)]
    return widths


_WRAPPED: dict[tuple, tuple[str, ...]] = {}
_WRAP_CACHE_MAX = 200_000


def wrap_text(text: str, width: float, font: str = fonts.REGULAR, size: float = BODY_SIZE) -> tuple[str, ...]:
    """Greedy word wrap; words wider than the column are broken by character.

    Memoised per process: lists repeat the same values (drugs, times, services,
    headings) thousands of times. The lines are a tuple: the collector stops
    looking at a tuple of strings, so a full memo costs a full collection
    nothing (a list of them was walked on every one).
    """
    key = (text, width, font, size)
    lines = _WRAPPED.get(key)
    if lines is None:
        if len(_WRAPPED) >= _WRAP_CACHE_MAX:
            _WRAPPED.clear()
        lines = _WRAPPED[key] = tuple(_wrap(text, width, pdfmetrics.getFont(font).stringWidth, size))
    return lines


def _wrap(text: str, width: float, measure, size: float) -> list[str]:
    if "\n" not in text and measure(text, size) <= width:
        return [text]
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        line = ""
        for word in para.split(" "):
            candidate = f"{line} {word}" if line else word
            if measure(candidate, size) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            if measure(word, size) > width and len(word) > 1:
                *full, word = _break_word(word, width, measure, size)
                lines.extend(full)
            line = word
        lines.append(line)
    return lines


def _break_word(word: str, width: float, measure, size: float) -> list[str]:
    """A word wider than the column in pieces that fit (at least one character each), in one pass:
    a string's width is the sum of its characters' widths (reportlab does not kern), so each
    character is measured once instead of measuring ever shorter prefixes (quadratic)."""
    pieces: list[str] = []
    widths: dict[str, float] = {}
    start, used = 0, 0.0
    for i, ch in enumerate(word):
        w = widths.get(ch)
        if w is None:
            w = widths[ch] = measure(ch, size)
        if used + w > width and i > start:
            pieces.append(word[start:i])
            start, used = i, 0.0
        used += w
    pieces.append(word[start:])
    return pieces


def wrap_columns(rows: list[PreparedRow], widths: list[float],
                 measured: list[dict[str, float] | None]) -> list[dict[str, tuple[str, ...]]]:
    """Each column's distinct texts -> their lines at the column's width: a text that fits and
    has no line break is its own line (its width is known from `measure_columns`), the others
    go through `wrap_text` (which would measure them again to find the same)."""
    wrapped = []
    for i, (w, texts) in enumerate(zip(widths, measured)):
        avail = w - 2 * PAD
        if texts is None:
            wrapped.append({t: wrap_text(t, avail) for t in {r.cells[i] for r in rows}})
        else:
            wrapped.append({t: (t,) if tw <= avail and "\n" not in t else wrap_text(t, avail)
                            for t, tw in texts.items()})
    return wrapped


class _Layout:
    """Wrapped lines and heights of every physical row, shared by split parts."""

    def __init__(self, rows: list[PreparedRow], widths: list[float], max_height: float,
                 ticks: tuple[int, ...], wrapped: list[dict[str, tuple[str, ...]]]):
        """`wrapped`: `wrap_columns` of the unit the rows belong to."""
        self.widths = widths
        self.ticks = ticks  # indexes of tick-box columns
        self.lines: list[tuple[tuple[str, ...], ...]] = []
        self.flag: list[bool] = []
        self.zebra: list[bool] = []
        self.cont: list[bool] = []
        self.heights: list[float] = []
        lookups = [texts.__getitem__ for texts in wrapped]
        max_lines = max(1, int((max_height - 2 * PAD) // LEADING))
        for index, row in enumerate(rows):
            cells = tuple(map(operator.call, lookups, row.cells))  # each cell's lines, at C speed
            total = max(map(len, cells))
            if total <= max_lines:  # the common case: the row fits on a page
                self.lines.append(cells)
                self.heights.append(total * LEADING + 2 * PAD)
                self.flag.append(row.flagged)
                self.zebra.append(index % 2 == 1)
                self.cont.append(False)
                continue
            for start in range(0, total, max_lines):
                part = tuple(c[start:start + max_lines] for c in cells)
                self.lines.append(part)
                self.heights.append(max(map(len, part)) * LEADING + 2 * PAD)
                self.flag.append(row.flagged)
                self.zebra.append(index % 2 == 1)
                self.cont.append(start > 0)


class RowTable(Flowable):
    def __init__(self, layout: "_Layout", start: int = 0, end: int | None = None):
        super().__init__()
        self.layout, self.start = layout, start
        self.end = len(layout.heights) if end is None else end
        self.width = FLAG_W + sum(layout.widths)

    def wrap(self, aw, ah):
        return self.width, sum(self.layout.heights[self.start:self.end])

    def split(self, aw, ah):
        used, i = 0.0, self.start
        heights = self.layout.heights
        while i < self.end and used + heights[i] <= ah + 0.01:
            used += heights[i]
            i += 1
        if i == self.start:
            return []
        if i == self.end:
            return [self]
        return [RowTable(self.layout, self.start, i), RowTable(self.layout, i, self.end)]

    def draw(self):
        c = self.canv
        lay = self.layout
        heights = lay.heights
        # a rule under every row, dark enough to survive a worn toner (the grey band alone fades away)
        c.setLineWidth(0.5)
        c.setStrokeColor(colors.Color(0.35, 0.35, 0.35))
        # backgrounds, tick boxes and rules first, then all cell text as one PDF text object
        tick_x = [FLAG_W + sum(lay.widths[:t]) + (lay.widths[t] - TICK_BOX) / 2 for t in lay.ticks]
        tops: list[float] = []
        y = sum(heights[self.start:self.end])
        for i in range(self.start, self.end):
            h = heights[i]
            y -= h
            tops.append(y + h)
            if lay.flag[i] or lay.zebra[i]:
                c.setFillColor(FLAG_BG if lay.flag[i] else ZEBRA)
                c.rect(0, y, self.width, h, stroke=0, fill=1)
            if not lay.cont[i]:
                for bx in tick_x:
                    c.rect(bx, y + h - PAD - TICK_BOX + 0.5, TICK_BOX, TICK_BOX, stroke=1, fill=0)
            c.line(0, y, self.width, y)
        c.setFillColor(colors.black)
        text = _TextRun(c, fonts.REGULAR, BODY_SIZE)
        # each column's x and each text line's y formatted once, not twice per cell (same numbers)
        xs, x = [], FLAG_W + PAD
        for w in lay.widths:
            xs.append(fp_str(x))
            x += w
        for i, top in zip(range(self.start, self.end), tops):
            cells = lay.lines[i]
            ty, ys = top - PAD - BODY_SIZE + 1, []
            for _ in range(max(map(len, cells))):
                ys.append(fp_str(ty))
                ty -= LEADING
            for cell, xpos in zip(cells, xs):
                for line, ypos in zip(cell, ys):
                    if line:
                        text.put(f"{xpos} {ypos}", line)
        text.finish()
        for i, top in zip(range(self.start, self.end), tops):
            if lay.flag[i] and not lay.cont[i]:
                c.setFillColor(RED)
                c.setFont(fonts.BOLD, BODY_SIZE)
                c.drawString(1.2, top - PAD - BODY_SIZE + 1, "!")
        c.setFont(fonts.REGULAR, BODY_SIZE)
        c.setFillColor(colors.black)


class _TextRun:
    """Many strings in one font and size as a single BT…ET text object.

    Same operators canvas.drawString writes for a TrueType font (subset font
    name, Tf, Tj), without a text object per string; each distinct string is
    encoded once per document (the glyph subsets belong to the document).
    """

    def __init__(self, canv: Canvas, font_name: str, size: float):
        self.canv = canv
        self.font = pdfmetrics.getFont(font_name)
        cache = getattr(canv, "_nodkit_text_cache", None)
        if cache is None:
            cache = canv._nodkit_text_cache = {}
        self.cache = cache.setdefault((font_name, size), {})
        self.first = cache.setdefault(font_name, _FirstSubset())  # the font's codes: per document, any size
        self.size = fp_str(size)
        self.code = ["BT"]
        self.subset_name: str | None = None

    def _encode(self, text: str) -> list[tuple[str, str]]:
        first = self.first
        if first.name is not None and first.chars.issuperset(text) and text:
            # every character already has its code in the first subset: the bytes splitString
            # would give, at C speed (most cells of a list are new strings of known letters)
            parts = [(first.name, self.canv._escape(text.translate(first.codes).encode("latin-1")))]
        else:
            doc, font, escape = self.canv._doc, self.font, self.canv._escape
            parts = [(font.getSubsetInternalName(subset, doc), escape(chunk))
                     for subset, chunk in font.splitString(text, doc)]
            first.learn(text, font.state[doc].assignments, font.getSubsetInternalName(0, doc))
        self.cache[text] = parts
        return parts

    def add(self, x: float, y: float, text: str) -> None:
        self.put(fp_str(x, y), text)

    def put(self, position: str, text: str) -> None:
        """`add` with the position already formatted ("x y", as fp_str(x, y) writes it)."""
        code = self.code
        code.append(f"1 0 0 1 {position} Tm")
        parts = self.cache.get(text) or self._encode(text)
        for name, chunk in parts:
            if name != self.subset_name:
                code.append(f"{name} {self.size} Tf")
                self.subset_name = name
            code.append(f"({chunk}) Tj")

    def finish(self) -> None:
        if len(self.code) > 1:
            self.code.append("ET")
            self.canv._code.append(" ".join(self.code))


def _draw_text(canv: Canvas, font_name: str, size: float, x: float, y: float, text: str) -> None:
    """canvas.drawString for one line, as a text run (in the canvas's fill colour)."""
    run = _TextRun(canv, font_name, size)
    run.add(x, y, text)
    run.finish()


class _FirstSubset:
    """The characters of one TrueType font that have a code in its first subset in one document
    (reportlab assigns a code on a character's first use and never changes it), and their codes
    as a str.translate table: a text made only of these is that subset's bytes of the text.
    A character without a glyph, a no-break space (written as a space) or one in a later subset
    is never learnt, so a text with one takes reportlab's own path (`TTFont.splitString`)."""

    def __init__(self):
        self.name: str | None = None  # the subset's font resource name, e.g. /F1+0
        self.chars: set[str] = set()
        self.codes: dict[int, int] = {}

    def learn(self, text: str, assignments: dict[int, int], name: str) -> None:
        self.name = name
        for ch in set(text) - self.chars:
            code = assignments.get(ord(ch))
            if code is not None and code < 256 and ch != "\xa0":
                self.chars.add(ch)
                if code != ord(ch):
                    self.codes[ord(ch)] = code


class SectionMarker(Flowable):
    """Zero-size flowable: tells the page frame which section is on the page."""

    def __init__(self, title: str):
        super().__init__()
        self.title = title

    def wrap(self, aw, ah):
        return 0, 0

    def draw(self):
        self.canv._nodkit_section = (self.title, self.canv.getPageNumber())


def _label_column(tpl) -> int:
    """The column that names a row for a human (e.g. the citizen), for problem notes."""
    for i, col in enumerate(tpl.columns):
        if col.type == "text" and col.required:
            return i
    return next((i for i, col in enumerate(tpl.columns) if col.type == "text"), 0)


class _Canvas(Canvas):
    """Defines the 'total pages' form just before saving (forward reference)."""

    def save(self):
        total = self.getPageNumber() - 1
        self.beginForm("nodkit-total")
        self.setFont(fonts.REGULAR, 8)
        x, y = getattr(self, "_nodkit_total_xy", (0, 0))
        self.drawString(x, y, str(max(total, 1)))
        self.endForm()
        super().save()


def render_unit(prepared: PreparedList, unit: UnitList, *, kit_name: str, generated_at: dt.datetime,
                set_id: str = "", file_label: str = "") -> RenderResult:
    fonts.register()
    tpl = prepared.template
    pagesize = landscape(A4) if tpl.orientation == "landscape" else A4
    page_w, page_h = pagesize
    usable = page_w - 2 * MARGIN - FLAG_W
    columns = prepared.columns
    all_rows = [r for s in unit.sections for r in s.rows]
    measured = measure_columns(columns, all_rows)
    widths = fit_widths(columns, all_rows, usable, measured)
    wrapped = wrap_columns(all_rows, widths, measured)
    del measured
    ticks = tuple(i for i, c in enumerate(columns) if c.type == "tickbox")
    check = pagecode.content_check(prepared.as_of.isoformat(), (r.cells for r in all_rows))
    del all_rows
    head_lines = [wrap_text(c.heading, w - 2 * PAD, fonts.BOLD) for c, w in zip(columns, widths)]
    head_h = max(len(h) for h in head_lines) * LEADING + 2 * PAD
    top_band = 30 * mm
    footer_h = 12 * mm
    frame_top = page_h - MARGIN - top_band - head_h
    frame_h = frame_top - (MARGIN + footer_h)
    data_time = fmt_time(prepared.as_of)
    made_time = fmt_time(generated_at)
    title = f"{tpl.title} – {unit.unit}"

    def frame_static(canvas: Canvas) -> None:
        """The parts of the page frame that are the same on every page."""
        top = page_h - MARGIN
        canvas.setFillColor(colors.black)
        canvas.setFont(fonts.REGULAR, 8.5)
        canvas.drawString(MARGIN, top - 8, kit_name)
        canvas.setFont(fonts.BOLD, 9)
        canvas.setFillColor(RED)
        canvas.drawRightString(page_w - MARGIN - QR_SIZE - 3 * mm, top - 8, "FORTROLIGT")
        canvas.setFillColor(colors.black)
        canvas.setFont(fonts.BOLD, 16)
        canvas.drawString(MARGIN, top - 28, title)
        canvas.setFont(fonts.REGULAR, 9.5)
        canvas.drawRightString(page_w - MARGIN - QR_SIZE - 3 * mm, top - 28, f"Data pr. {data_time}")
        # column headings, repeated on every page
        y = page_h - MARGIN - top_band
        canvas.setFillColor(HEAD_BG)
        canvas.rect(MARGIN, y - head_h, page_w - 2 * MARGIN, head_h, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        canvas.setFont(fonts.BOLD, BODY_SIZE)
        x = MARGIN + FLAG_W
        for lines, w in zip(head_lines, widths):
            ty = y - PAD - BODY_SIZE + 1
            for text in lines:
                canvas.drawString(x + PAD, ty, text)
                ty -= LEADING
            x += w
        # footer
        fy = MARGIN
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, fy + footer_h - 2 * mm, page_w - MARGIN, fy + footer_h - 2 * mm)
        canvas.setFont(fonts.BOLD, 8)
        canvas.drawString(MARGIN, fy + 4 * mm, "Fortroligt")
        canvas.setFont(fonts.REGULAR, 8)
        canvas.drawString(MARGIN + 18 * mm, fy + 4 * mm, f"Data pr. {data_time}   ·   Dannet {made_time}")

    def frame_page(canvas: Canvas, doc) -> None:
        # the unchanging part is one form XObject drawn on every page: written
        # once per file instead of ~20 text objects on each of thousands of pages
        if not getattr(canvas, "_nodkit_frame", False):
            canvas.beginForm("nodkit-frame")
            frame_static(canvas)
            canvas.endForm()
            canvas._nodkit_frame = True
        canvas.saveState()
        canvas.doForm("nodkit-frame")
        # per page: page code (QR), section heading, page number, set line with check
        page = canvas.getPageNumber()
        top = page_h - MARGIN
        pagecode.draw(canvas, pagecode.payload(set_id or "-", file_label or "-", page, check),
                      page_w - MARGIN - QR_SIZE, top - QR_SIZE, QR_SIZE)
        # the texts of each page as text runs, like the cells (drawString made a text object
        # and split the string into glyph subsets anew for each of them, three times a page)
        section, first_page = getattr(canvas, "_nodkit_section", ("", 0))
        canvas.setFillColor(colors.black)
        if section:
            suffix = " (fortsat)" if page != first_page else ""
            _draw_text(canvas, fonts.BOLD, 12.5, MARGIN, top - 48, section + suffix)
        fy = MARGIN
        label = f"Side {page} af "
        lx = page_w - MARGIN - 26 * mm
        _draw_text(canvas, fonts.REGULAR, 8, lx, fy + 4 * mm, label)
        canvas._nodkit_total_xy = (0, 0)
        canvas.saveState()
        canvas.translate(lx + stringWidth(label, fonts.REGULAR, 8), fy + 4 * mm)
        canvas.doForm("nodkit-total")
        canvas.restoreState()
        if set_id:
            canvas.setFillColor(colors.Color(0.4, 0.4, 0.4))
            _draw_text(canvas, fonts.REGULAR, 6.5, MARGIN, fy, pagecode.footer(set_id, file_label, page, check))
        canvas.restoreState()

    frame = Frame(MARGIN, MARGIN + footer_h, page_w - 2 * MARGIN, frame_h, leftPadding=0, rightPadding=0,
                  topPadding=0, bottomPadding=0, id="body")
    buf = io.BytesIO()
    doc = BaseDocTemplate(buf, pagesize=pagesize, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                          bottomMargin=MARGIN, title=title, author=kit_name,
                          subject=f"Nødliste, data pr. {data_time}", creator="nodkit")
    doc.addPageTemplates([PageTemplate(id="list", frames=[frame], onPageEnd=frame_page, pagesize=pagesize)])
    note_style = ParagraphStyle("note", fontName=fonts.REGULAR, fontSize=9, leading=11, spaceBefore=2)
    note_head = ParagraphStyle("notehead", parent=note_style, fontName=fonts.BOLD, textColor=RED, spaceBefore=8,
                               keepWithNext=1)  # never a heading alone at a page bottom
    empty_style = ParagraphStyle("empty", fontName=fonts.BOLD, fontSize=11, leading=14, spaceBefore=10)
    story: list[Flowable] = []
    sections = unit.sections or []
    if not sections:
        story += [SectionMarker(""), Paragraph(xml_escape(tpl.empty_text), empty_style)]
    for n, section in enumerate(sections):
        if n:
            story.append(PageBreak())
        story.append(SectionMarker(section.title))
        if not section.rows:
            story.append(Paragraph(xml_escape(tpl.empty_text), empty_style))
            continue
        story.append(RowTable(_Layout(section.rows, widths, frame_h, ticks, wrapped)))
        flagged = section.flagged
        if flagged:
            story.append(Spacer(1, 4))
            story.append(Paragraph(f"! {len(flagged)} række(r) med problemer – kontrollér i kildesystemet:", note_head))
            label = _label_column(tpl)
            for row in flagged:
                ident = row.cells[label] or "(tom)"
                story.append(Paragraph(
                    xml_escape(f"{tpl.columns[label].heading}: {ident} ({row.origin}): {'; '.join(row.problems)}"),
                    note_style))
    doc.build(story, canvasmaker=_Canvas)
    pages = doc.page if hasattr(doc, "page") else 0
    return RenderResult(pdf=buf.getvalue(), pages=pages, check=check)
