"""The staff's print menu: numbered questions in Danish, one step at a time.

choose unit → the unit's binder or a single list → password (hidden) →
copies → confirm → print. Written for a stressed, non-technical person:
every question has a number to type, Enter takes the default shown in
[brackets], a wrong answer is explained and asked again, "q" quits.

The menu takes its input and output as callables (`ask`, `ask_secret`,
`say`) so tests can drive it directly; the CLI wires it to the terminal.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable

from nodkit.printing import jobs
from nodkit.printing import spooler as printing
from nodkit.config.settings import KitConfig
from nodkit.errors import PrintError

log = logging.getLogger(__name__)

Ask = Callable[[str], str]
Say = Callable[[str], None]
PASSWORD_TRIES = 3
CONFIRM_PAGES = 200  # more paper than this is asked about first (a binder of every list can be thousands)
PDF_ROUTE = ("Uden printer herfra: åbn listerne i en PDF-læser med adgangskoden fra kuverten og udskriv "
             "derfra. Filerne ligger i {folder}.")


class Quit(Exception):
    """The person typed q: leave without printing."""


@dataclass
class MenuResult:
    printed: printing.PrintResult | None


def _pick(ask: Ask, say: Say, prompt: str, options: list[str], default: int | None = None) -> int:
    for number, text in enumerate(options, start=1):
        say(f"  {number:>2}  {text}")
    while True:
        hint = f" [{default}]" if default else ""
        answer = ask(f"{prompt}{hint}: ").strip()
        if answer.lower() in ("q", "afslut"):
            raise Quit()
        if not answer and default:
            return default - 1
        if answer.isdigit() and 1 <= int(answer) <= len(options):
            return int(answer) - 1
        say(f"Skriv et tal fra 1 til {len(options)} og tryk Enter (eller q for at afslutte).")


def _copies(ask: Ask, say: Say, default: int, maximum: int) -> int:
    while True:
        answer = ask(f"Hvor mange kopier? [{default}]: ").strip()
        if answer.lower() in ("q", "afslut"):
            raise Quit()
        if not answer:
            return default
        if answer.isdigit() and 1 <= int(answer) <= maximum:
            return int(answer)
        say(f"Skriv et antal fra 1 til {maximum} og tryk Enter.")


def run_menu(config: KitConfig, *, ask: Ask, ask_secret: Ask, say: Say, now: dt.datetime | None = None,
             set_id: str | None = None, backend: printing.Backend | None = None) -> MenuResult:
    """`now` fixes the clock for tests; without it the age is taken at the start and each
    audit record gets the time of its own attempt (a stressed person may take minutes)."""
    clock = now
    now = now or config.now()
    export_set = printing.resolve_set(config, set_id)
    backend = backend or printing.backend_for(config.printer)
    titles = printing.template_titles(config)
    audience_titles = {name: a.title for name, a in config.audiences.items()}
    age = printing.age_of(export_set, config, now)

    say(f"Nødlister – {config.name}")
    say("=" * min(60, len(config.name) + 12))
    cannot = printing.no_print_backend(config.printer)
    if cannot:
        raise PrintError(cannot)
    if age.stale:
        say("")
        say(f"!!! ADVARSEL: {age.text()}.")
        say("!!! Oplysningerne kan være forældede. Tjek det vigtigste mundtligt, og giv IT besked.")
    else:
        say(age.text() + ".")
    rolled_back = printing.rollback_warning(config, export_set)
    if rolled_back:
        say("!!! " + rolled_back)
    if export_set.manifest.status != "good":
        say(f"!!! ADVARSEL: dette sæt er markeret '{export_set.manifest.status}' – nogle lister kan mangle.")
    if not _printer_ready(ask, say, backend, config, export_set):
        return MenuResult(printed=None)
    say("Skriv tallet ud for dit valg og tryk Enter. Skriv q for at afslutte.")
    say("")

    try:
        unit_names = printing.units(export_set, config.station)
        if not unit_names:
            raise PrintError(f"Sættet {export_set.id} indeholder ingen lister. " + printing.CALL_IT)
        say("Hvilken enhed?")
        unit = unit_names[_pick(ask, say, "Enhed", unit_names)]
        say("")
        options = printing.choices(export_set, unit, titles, audience_titles, config.station)
        has_binder = any(f.template == printing.BINDER for c in options for f in c.files)
        say(f"Hvad skal udskrives for {unit}?" + ("  (1 = hele mappen med alle lister)" if has_binder else ""))
        choice = options[_pick(ask, say, "Valg", [c.label for c in options], default=1)]
        say("")
        password = _password(ask_secret, say, config, export_set, choice, clock)
        if age.stale:  # repeated where the person decides: short enough for an 80-column terminal
            say(f"!!! Husk: {age.text()}.")
        copies = _copies(ask, say, config.printer.copies, config.printer.max_copies)
        total = choice.pages * copies
        if total > CONFIRM_PAGES and not _yes(ask, say, f"{jobs.pages_text(total)} – er du sikker? (j/n) [n]: "):
            raise Quit()
        while True:
            say("")
            say(f"Udskriver {choice.label} – {jobs.copies_text(copies)} – på {backend.label} …")
            say("Vent, til printeren er færdig …")
            result = printing.print_files(config, export_set, choice.files, password, copies, backend=backend,
                                          now=clock, titles=titles)
            outcome = result.outcome
            say(outcome.message if outcome else "Der blev ikke sendt noget til printeren.")
            if result.printed:
                break
            backend = _next_try(ask, say, config, backend)
            if backend is None:
                say("Der er ikke udskrevet noget. " + PDF_ROUTE.format(folder=export_set.path))
                return MenuResult(printed=result)
    except Quit:
        say("Afsluttet uden at udskrive.")
        return MenuResult(printed=None)
    if age.stale:
        say(f"Husk: {age.text()}.")
    if result.audit_error:
        say("Bemærk: udskriften kunne ikke skrives i revisionsloggen. Skriv ned hvem der udskrev hvad, og giv IT besked.")
    return MenuResult(printed=result)


def _yes(ask: Ask, say: Say, prompt: str) -> bool:
    while True:
        answer = ask(prompt).strip().lower()
        if answer in ("j", "ja", "y"):
            return True
        if answer in ("", "n", "nej", "q", "afslut"):
            return False
        say("Skriv j for ja eller n for nej og tryk Enter.")


def _printer_ready(ask: Ask, say: Say, backend: printing.Backend, config: KitConfig, export_set) -> bool:
    """A printer problem is said before any question, without shell commands, with the PDF-reader route."""
    while True:
        try:
            backend.check()
            return True
        except PrintError as exc:
            say("")
            say(f"!!! Printeren er ikke klar: {exc}")
            say(PDF_ROUTE.format(folder=export_set.path))
            say("")
            pick = _pick(ask, say, "Valg", ["Prøv igen (når printeren er klar)", "Afslut"], default=1)
            if pick == 1:
                say("Afsluttet uden at udskrive.")
                return False


def _password(ask_secret: Ask, say: Say, config: KitConfig, export_set, choice, clock) -> str:
    """Three tries; an empty Enter asks again and is no try; a password of another audience says which it opens."""
    attempt = 0
    while attempt < PASSWORD_TRIES:
        password = ask_secret("Adgangskode (skjult mens du skriver): ")
        if password.strip().lower() == "q":
            raise Quit()
        if not password:
            say("Skriv adgangskoden fra kuverten og tryk Enter (eller q for at afslutte).")
            continue
        attempt += 1
        if printing.password_opens(config, export_set, choice.files[0], password, clock):
            return password
        other = printing.other_audience(config, export_set, password, choice.files[0].audience)
        left = PASSWORD_TRIES - attempt
        if other:
            title, units = other
            say(f"Den adgangskode åbner listerne for {title} ({', '.join(units[:4])}"
                f"{' …' if len(units) > 4 else ''}), ikke dette valg.")
            say("Brug adgangskoden til jeres egne lister, eller start forfra og vælg en af de enheder.")
        elif left:
            say(f"Forkert adgangskode. Prøv igen ({left} forsøg tilbage). Store/små bogstaver og bindestreger tæller.")
    raise PrintError("Forkert adgangskode tre gange. Find adgangskoden til jeres målgruppe "
                     "(forseglet kuvert), og start igen. " + printing.CALL_IT)


def _next_try(ask: Ask, say: Say, config: KitConfig, backend: printing.Backend) -> printing.Backend | None:
    """After a job that did not print: the same printer again, another printer, or stop."""
    others = printing.other_queues(config.printer, getattr(backend, "queue", None)) \
        if isinstance(backend, printing.CupsBackend) else []
    options = ["Prøv igen på samme printer"] + [f"Udskriv på {q}" for q in others] + ["Afslut"]
    say("")
    say("Hvad vil du gøre?")
    pick = _pick(ask, say, "Valg", options, default=1)
    if pick == len(options) - 1:
        return None
    if pick == 0:
        return backend
    return printing.CupsBackend(config.printer, others[pick - 1])
