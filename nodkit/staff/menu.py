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

from nodkit.printing import spooler as printing
from nodkit.config.settings import KitConfig
from nodkit.errors import PrintError

log = logging.getLogger(__name__)

Ask = Callable[[str], str]
Say = Callable[[str], None]
PASSWORD_TRIES = 3


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
    try:
        backend.check()
    except PrintError as exc:
        say("")
        say(f"!!! Printeren er ikke klar: {exc}")
        say("!!! Du kan fortsætte; udskriften sendes, når du har valgt, men den kan fejle.")
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
        for attempt in range(1, PASSWORD_TRIES + 1):
            password = ask_secret("Adgangskode (skjult mens du skriver): ")
            if password.strip().lower() == "q":
                raise Quit()
            if password and printing.password_opens(config, export_set, choice.files[0], password, clock):
                break
            left = PASSWORD_TRIES - attempt
            if left:
                say(f"Forkert adgangskode. Prøv igen ({left} forsøg tilbage). Store/små bogstaver og bindestreger tæller.")
        else:
            raise PrintError("Forkert adgangskode tre gange. Find adgangskoden til jeres målgruppe "
                             "(forseglet kuvert), og start igen. " + printing.CALL_IT)
        copies = _copies(ask, say, config.printer.copies, config.printer.max_copies)
        say("")
        say(f"Udskriver {choice.label} – {copies} kopi(er) – på {backend.label} …")
        result = printing.print_files(config, export_set, choice.files, password, copies, backend=backend,
                                      now=clock, titles=titles)
    except Quit:
        say("Afsluttet uden at udskrive.")
        return MenuResult(printed=None)
    outcome = result.outcome
    say(outcome.message if outcome else "Der blev ikke sendt noget til printeren.")
    if age.stale:
        say(f"Husk: {age.text()}.")
    if result.audit_error:
        say("Bemærk: udskriften kunne ikke skrives i revisionsloggen. Skriv ned hvem der udskrev hvad, og giv IT besked.")
    return MenuResult(printed=result)
