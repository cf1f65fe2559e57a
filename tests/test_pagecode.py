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
