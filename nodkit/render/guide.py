"""The one-page printing guide "Sådan udskriver du nødlister".

It holds no personal data (kit name, where the PC stands, whom to call, the
steps), so it is a plain, unencrypted PDF: store/udskrivningsvejledning.pdf,
rewritten after every published export, and `guide_pdf(config)` returns the
bytes for binders. Keep it to one A4 page: it hangs next to the PC.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer

from nodkit.config.settings import KitConfig
from nodkit.fsutil import write_atomic
from nodkit.render import fonts

log = logging.getLogger(__name__)

GUIDE_NAME = "udskrivningsvejledning.pdf"
TITLE = "Sådan udskriver du nødlister"


def _styles():
    fonts.register()
    body = ParagraphStyle("body", fontName=fonts.REGULAR, fontSize=11, leading=14.5, spaceAfter=3)
    return {
        "title": ParagraphStyle("title", parent=body, fontName=fonts.BOLD, fontSize=20, leading=24, spaceAfter=4),
        "sub": ParagraphStyle("sub", parent=body, fontSize=11, textColor="#444444", spaceAfter=8),
        "h": ParagraphStyle("h", parent=body, fontName=fonts.BOLD, fontSize=13, leading=16, spaceBefore=8, spaceAfter=3),
        "body": body,
        "code": ParagraphStyle("code", parent=body, fontName=fonts.BOLD, fontSize=11, leftIndent=8),
        # the confidentiality note must be read, not skimmed: full black, body size
        "small": ParagraphStyle("small", parent=body, fontName=fonts.BOLD, fontSize=10, leading=13),
    }


def _steps(items: list[str], style) -> ListFlowable:
    return ListFlowable([ListItem(Paragraph(t, style), value=i) for i, t in enumerate(items, start=1)],
                        bulletType="1", bulletFontName=fonts.BOLD, leftIndent=14, bulletFontSize=11)


def guide_pdf(config: KitConfig) -> bytes:
    """The guide as PDF bytes (plain: it contains no personal data)."""
    s = _styles()
    e = escape
    store = e(str(config.store))
    where = e(config.location) if config.location else "(ikke angivet – spørg IT)"
    contact = e(config.contact) if config.contact else "IT-vagten (nummeret står ikke i opsætningen – spørg IT)"
    login = e(login_text(config))
    story = [
        Paragraph(TITLE, s["title"]),
        Paragraph(f"{e(config.name)} · Nødliste-pc'en står: <b>{where}</b>", s["sub"]),
        Paragraph("Når systemerne er nede", s["h"]),
        _steps([
            f"Gå til nødliste-pc'en, og log ind som: <b>{login}</b>.",
            "Dobbeltklik på ikonet <b>Udskriv nødlister</b> på skrivebordet. "
            f"(Eller åbn en terminal, skriv <b>nodkit print --kit {e(str(config.home))}</b> og tryk Enter.)",
            "Vælg din <b>enhed</b>: klik på den. (I et sort tekstvindue: skriv tallet ud for den, og tryk "
            "Enter – sådan også ved de næste trin.)",
            "Vælg <b>hele mappen</b> (alle lister for enheden) eller én liste.",
            "Skriv <b>adgangskoden</b> til jeres målgruppe (fra den forseglede kuvert). "
            "Den vises ikke, mens du skriver.",
            "Vælg <b>antal kopier</b>, tryk <b>Udskriv</b>, og vent, til skærmen viser <b>Udskrevet</b>: så er "
            f"printeren færdig. Hent papiret ved printeren ({where}).",
        ], s["body"]),
        Paragraph("Hvis der ikke kommer papir ud", s["h"]),
        Paragraph("Står der <b>“Printeren svarer ikke”</b> eller <b>“ikke udskrevet”</b>, er udskriften "
                  "annulleret og kommer ikke ud senere. Tjek at printeren er tændt, har papir og ikke viser en fejl; vælg så <b>Prøv igen</b> "
                  "eller en anden printer. Kommer der stadig intet, så brug en PDF-læser (nedenfor), og ring.",
                  s["body"]),
        Paragraph("Hvis kuverten med adgangskoden er væk", s["h"]),
        Paragraph("Adgangskoden står kun i den forseglede kuvert og hos IT. Ring til IT-vagten (nederst); "
                  "gæt ikke – hvert forkert forsøg registreres.", s["body"]),
        Paragraph("Læs advarslen om alder", s["h"]),
        Paragraph("Hver side viser <b>Data pr.</b> – tidspunktet for oplysningerne. Står der "
                  "<b>“Listerne er … gamle”</b>, kan noget have ændret sig siden: tjek det vigtigste "
                  "(medicin, adgang, pårørende) mundtligt, og giv IT besked.", s["body"]),
        Paragraph("Hvis nodkit ikke virker", s["h"]),
        Paragraph("Listerne er almindelige PDF-filer, låst med adgangskoden. De kan åbnes i enhver PDF-læser "
                  "(Adobe Reader, Edge, Chrome, Firefox, SumatraPDF, Evince) og udskrives derfra:", s["body"]),
        _steps([
            f"Åbn mappen <b>{store}</b>, og se i filen <b>LATEST</b>, hvilket sæt der er det nyeste.",
            "Gå ind i mappen <b>sets</b>, så sættets mappe, så jeres målgruppe og til sidst jeres enhed.",
            "Dobbeltklik på <b>binder.pdf</b>: enhedens mappe med alle dens lister. Skriv adgangskoden, når "
            "PDF-læseren beder om den. Forsiden viser under <b>Indhold</b>, på hvilke sider hver liste står "
            "(fx <i>Køreliste – side 3–26</i>).",
            "Udskriv med Ctrl+P. Skal du kun bruge én liste, så skriv dens sider fra forsiden under "
            "<b>Sider</b> (fx 3-26). Fælles lister (fx Kontaktliste) ligger også som egne filer i mappen "
            "<b>Fælles</b>. Læg aldrig en kopi uden adgangskode på pc'en, et USB-stik eller i en mail.",
        ], s["body"]),
        Paragraph("Hvem ringer jeg til?", s["h"]),
        Paragraph(f"<b>{contact}</b>", s["body"]),
        Spacer(1, 4 * mm),
        Paragraph("Papirlisterne er fortrolige: hold dem hos dig, og makulér dem, når systemerne virker igen. "
                  "Hver udskrift registreres i nødliste-pc'ens log (tid, bruger, lister, printer).", s["small"]),
    ]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=15 * mm, title=TITLE, author=config.name, subject="nodkit")
    doc.build(story)
    return out.getvalue()


def login_text(config: KitConfig) -> str:
    """Which login staff use, as the guide says it: `[kit] staff_login` (a municipality names its own
    account), else their own login in the staff group, else (one account for all) the kit's login."""
    if config.staff_login:
        return config.staff_login
    if config.staff_group:
        return f"din egen bruger (i gruppen {config.staff_group}; virker den ikke, så ring til IT)"
    return "nødliste-pc'ens fælles bruger"


def write_guide(config: KitConfig, pdf: bytes | None = None) -> Path:
    """(Re)write store/udskrivningsvejledning.pdf atomically (`pdf`: already rendered bytes)."""
    path = config.store / GUIDE_NAME
    write_atomic(path, pdf if pdf is not None else guide_pdf(config))
    return path
