"""The page code's fast QR encoder makes exactly the codes reportlab's encoder makes."""

from __future__ import annotations

import random

import pytest

from nodkit.render import pagecode


def _payloads(count: int) -> list[str]:
    rng = random.Random(3)
    labels = ["Område 01/medication.pdf", "Vestre Skole/attendance.pdf", "Fælles/contacts.pdf", "binder.pdf"]
    out = []
    for _ in range(count):
        label = rng.choice(labels + ["æøå/" * rng.randint(1, 25) + "x.pdf"])
        out.append(pagecode.payload(f"20261123-{rng.randint(0, 235959):06d}-{rng.getrandbits(16):04x}", label,
                                    rng.randint(1, 40_000), f"{rng.getrandbits(40):010x}"))
    return out


@pytest.mark.parametrize("text", _payloads(150) + ["HELLO WORLD", "0123456789", "a", "x" * 400])
def test_matrix_is_module_for_module_reportlabs(text):
    fast = pagecode.matrix(text)
    assert fast == pagecode._reference_matrix(text)
    assert len(fast) in {4 * v + 17 for v in range(1, 41)}


def test_draw_fills_exactly_the_dark_modules():
    text = _payloads(1)[0]
    modules = pagecode._reference_matrix(text)
    n = len(modules)

    class Recorder:
        literal = ""

        def __getattr__(self, name):
            return lambda *args: None

        def addLiteral(self, text):  # noqa: N802 (reportlab's name)
            self.literal += text

    rec = Recorder()
    pagecode.draw(rec, text, 0, 0, 50)
    # one inline image mask, 1 bit per module, rows top first, each row padded to whole bytes
    head, rest = rec.literal.split(" ID\n")
    assert f"/W {n} /H {n} /IM true /BPC 1 /D [1 0] /F /AHx" in head and "50 0 0 50 0 0 cm" in head
    data = bytes.fromhex(rest.split(">")[0])
    row_bytes = (n + 7) // 8
    assert len(data) == n * row_bytes
    dark = {(r, c) for r in range(n) for c in range(n)
            if data[r * row_bytes + c // 8] >> (7 - c % 8) & 1}
    assert dark == {(r, c) for r in range(n) for c in range(n) if modules[r][c]}


def _page(set_id: str, label: str, page: int, of: int) -> str:
    """A list page's text as PDFium reads it back (the total is a form drawn after "af")."""
    return (f"Hjemmepleje · Område\r\nKlasse 0.A\r\nSide {page} af \r\n{of}\r\n"
            + pagecode.footer(set_id, label, page, "e1f0726d2f").replace("\u00a0", " "))


def test_a_list_range_is_only_its_own_first_and_last_page():
    sid, label = "20261202T205934Z-007b", "Område Nord/care-route.pdf"
    ok = dict(set_id=sid, file_label=label, pages=24)
    assert pagecode.range_problem(_page(sid, label, 1, 24), _page(sid, label, 24, 24), **ok) is None
    # one page late, another list, another set, a list longer than the range, a cover page
    assert "first page is not page 1 of 24" in pagecode.range_problem(_page(sid, label, 2, 24),
                                                                       _page(sid, label, 24, 24), **ok)
    other = pagecode.range_problem(_page(sid, "Område Nord/medication.pdf", 1, 24), _page(sid, label, 24, 24), **ok)
    assert "it reads: Sæt 20261202T205934Z-007b · Område Nord/medication.pdf · side 1, Side 1 af 24" in other
    assert pagecode.range_problem(_page("20261202T040002Z-9f3a", label, 1, 24), _page(sid, label, 24, 24), **ok)
    assert "Side 1 af 30" in pagecode.range_problem(_page(sid, label, 1, 30), _page(sid, label, 24, 30), **ok)
    assert "last page is not page 24 of 24" in pagecode.range_problem(_page(sid, label, 1, 24),
                                                                       _page(sid, label, 23, 24), **ok)
    assert "no nodkit page footer" in pagecode.range_problem("Forside og indhold", _page(sid, label, 24, 24), **ok)
    # side 1 is not side 10 or 11
    assert pagecode.range_problem(_page(sid, label, 11, 24), _page(sid, label, 24, 24), **ok)


def test_a_range_check_ignores_what_the_font_cannot_draw_and_how_space_is_read():
    """A reader leaves out characters without a glyph (they print as boxes) and may read a
    no-break space as a space or a long footer as two lines: the list is still the list."""
    sid, label = "20261202T205934Z-007b", "Område 区\u00a0Nord/care-route.pdf"
    read = label.replace("区", "").replace("\u00a0", " ")
    first = _page(sid, read, 1, 3).replace(" · side", "\r\n· side")
    assert pagecode.range_problem(first, _page(sid, read, 3, 3), set_id=sid, file_label=label, pages=3) is None
    assert pagecode.range_problem(_page(sid, "Område Syd/care-route.pdf", 1, 3), _page(sid, read, 3, 3),
                                  set_id=sid, file_label=label, pages=3)
