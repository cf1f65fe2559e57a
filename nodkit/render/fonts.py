"""The embedded TrueType font, and a check of what it can draw.

reportlab's bundled Vera misses most of Latin Extended and prints missing
glyphs as empty boxes without an error. Roboto (Apache-2.0, from the
font-roboto wheel, so Windows gets it too) covers Latin Extended A/B and
Vietnamese. Registered once per process.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

log = logging.getLogger(__name__)

REGULAR = "NodkitSans"
BOLD = "NodkitSans-Bold"
_registered = False


def font_files() -> tuple[Path, Path]:
    import font_roboto
    folder = Path(font_roboto.__file__).resolve().parent / "files"
    return folder / "Roboto-Regular.ttf", folder / "Roboto-Bold.ttf"


def register() -> None:
    global _registered
    if _registered:
        return
    regular, bold = font_files()
    pdfmetrics.registerFont(TTFont(REGULAR, str(regular)))
    pdfmetrics.registerFont(TTFont(BOLD, str(bold)))
    from reportlab.lib.fonts import addMapping
    addMapping(REGULAR, 0, 0, REGULAR)
    addMapping(REGULAR, 1, 0, BOLD)
    _registered = True


def missing_glyphs(texts: Iterable[str]) -> set[str]:
    """Characters in `texts` the body font cannot draw (they would print as boxes)."""
    register()
    cmap = pdfmetrics.getFont(REGULAR).face.charToGlyph
    chars = set("".join(texts))  # one C-level pass over all the texts (a unit's cells)
    return {c for c in chars if ord(c) not in cmap and c not in "\n\r\t"}
