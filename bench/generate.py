"""Synthetic source data at a chosen scale, written like the demo's sources.

The files have the demo's columns (CSV exports for the care record, a SQLite
school database), so the demo's dataset configuration and the built-in
templates apply unchanged. All people are invented; CPR-like numbers fail the
modulus-11 check (nodkit.kit.demo.fictitious_cpr). Deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from nodkit.kit.demo import (DRUGS, SCHOOL_SCHEMA, FIRST, LAST, SERVICES, SPECIAL, STREETS, _csv, _phone,
                         fictitious_cpr)
from nodkit.fsutil import private_dir, write_atomic

SEED = 8_2026


@dataclass(frozen=True)
class Scale:
    name: str
    citizens: int
    routes_per_day: int  # (route, shift) runs per day
    days: int
    medication_lines: int
    pupils: int
    classes: int
    staff: int
    contacts: int
    areas: int
    schools: int
    visits_per_route: int = 8


SCALES = {
    # Københavns Kommune-sized: the largest Danish municipality
    "copenhagen": Scale("copenhagen", citizens=25_000, routes_per_day=2_000, days=3, medication_lines=200_000,
                        pupils=60_000, classes=2_600, staff=40_000, contacts=500, areas=12, schools=100),
    "small": Scale("small", citizens=750, routes_per_day=60, days=3, medication_lines=6_000,
                   pupils=1_800, classes=78, staff=1_200, contacts=50, areas=4, schools=4),
    "tiny": Scale("tiny", citizens=40, routes_per_day=4, days=2, medication_lines=160,
                  pupils=60, classes=4, staff=40, contacts=12, areas=2, schools=2, visits_per_route=4),
}


def _names(rng: random.Random, n: int) -> list[str]:
    names = list(SPECIAL)[:n]
    while len(names) < n:
        names.append(f"{rng.choice(FIRST)} {rng.choice(FIRST)} {rng.choice(LAST)}")
    return names


def write_sources(folder: Path, scale: Scale, today: dt.date, seed: int = SEED) -> dict[str, int]:
    """Write every source file into `folder`; returns rows written per dataset."""
    rng = random.Random(seed)
    private_dir(folder)
    areas = [f"Område {n:02d}" for n in range(1, scale.areas + 1)]
    names = _names(rng, scale.citizens)
    citizens = []
    for i, name in enumerate(names):
        birth = dt.date(1925 + rng.randrange(50), rng.randrange(1, 13), rng.randrange(1, 29))
        power = rng.choice(("",) * 9 + ("Ilt (iltkoncentrator)", "Respirator", "El-seng", "Sug"))
        citizens.append((areas[i % len(areas)], name, fictitious_cpr(rng, birth),
                         f"{rng.choice(STREETS)} {rng.randrange(1, 240)}, {2000 + rng.randrange(500)} København",
                         _phone(rng),
                         rng.choice(("", "Nøgleboks kode " + str(rng.randrange(1000, 9999)), "Ring på, borger åbner")),
                         f"{rng.choice(FIRST)} {name.split()[-1]} (barn) {_phone(rng)}",
                         rng.choice(("", "Hørehæmmet", "Demens – tal roligt", "Diabetes", "Kørestol")),
                         power, rng.choice(("1", "2", "3")) if power else ""))
    staff_names = _names(rng, scale.staff)
    staff = [[n, areas[i % len(areas)], rng.choice(("SSA", "SSH", "Sygeplejerske", "Leder", "Hjælper")),
              _phone(rng), rng.choice(("Dag", "Aften", "Nat"))] for i, n in enumerate(staff_names)]
    counts = {}

    by_area = {a: [c for c in citizens if c[0] == a] for a in areas}
    visits = []
    shifts = (("Dag", 7), ("Aften", 16))
    for day in range(scale.days):
        date = (today + dt.timedelta(days=day)).strftime("%d-%m-%Y")
        for run in range(scale.routes_per_day):
            area = areas[run % len(areas)]
            route, (shift, hour) = run // 2 + 1, shifts[run % 2]
            carer = staff_names[rng.randrange(len(staff_names))]
            minute = hour * 60
            for c in rng.sample(by_area[area], min(scale.visits_per_route, len(by_area[area]))):
                visits.append([area, f"R{route:04d}", shift, date, f"{minute // 60:02d}.{minute % 60:02d}",
                               f"{(minute + 30) // 60:02d}.{(minute + 30) % 60:02d}", c[1], c[2], c[3], c[5],
                               ", ".join(rng.sample(SERVICES, rng.randrange(1, 4))), c[4], carer])
                minute += rng.choice((40, 45, 50, 60))
    write_atomic(folder / f"besoeg_{today:%Y%m%d}.csv", _csv(visits, [
        "Område", "Rute", "Vagt", "Dato", "Fra", "Til", "Borger", "CPR", "Adresse", "Adgang", "Ydelser",
        "Telefon", "Medarbejder"]))
    counts["visits"] = len(visits)

    meds = []
    per_citizen, extra = divmod(scale.medication_lines, len(citizens))
    for i, c in enumerate(citizens):
        allergy = rng.choice(("", "", "Penicillin", "Nødder", "Latex"))
        n = per_citizen + (1 if i < extra else 0)
        for k in range(n):
            drug, strength, route = DRUGS[(i + k) % len(DRUGS)]
            meds.append([c[0], c[1], c[2], f"{drug}" if k < len(DRUGS) else f"{drug} ({k // len(DRUGS) + 1})",
                         strength, rng.choice(("1 tablet", "2 tabletter", "½ tablet", "10 E", "2 pust")),
                         rng.choice(("08", "08, 20", "08, 12, 18", "22", "efter behov")), route,
                         rng.choice(("", "Gives med mad", "Knuses ikke", "Måles før: blodsukker")), allergy])
    write_atomic(folder / "medicin.csv", _csv(meds, [
        "Område", "Borger", "CPR", "Præparat", "Styrke", "Dosis", "Tidspunkter", "Administration", "Bemærkning",
        "Allergier"]))
    counts["medication"] = len(meds)

    write_atomic(folder / "borgere.csv", _csv(
        [[c[0], c[1], c[2], c[3], c[4], c[6], c[7], c[8], c[9], c[5]] for c in citizens],
        ["Område", "Borger", "CPR", "Adresse", "Telefon", "Pårørende", "Særlige behov", "Strømafhængig udstyr",
         "Prioritet", "Adgang"]))
    counts["citizens"] = len(citizens)
    write_atomic(folder / "medarbejdere.csv", _csv(staff, ["Navn", "Område", "Funktion", "Telefon", "Vagt"]))
    counts["staff"] = len(staff)
    categories = ("Krisestab", "Ledere", "Leverandører", "Forsyning", "Løbere", "Mødesteder", "Informationspunkter")
    contacts = [[categories[i % len(categories)], f"Funktion {i + 1}", name, rng.choice(("", "Beredskab", "Frivillig")),
                 _phone(rng), rng.choice(("", "Døgnåbent", "Cykel")), rng.choice(("", "Hjemmeplejen", "Skoler"))]
                for i, name in enumerate(_names(rng, scale.contacts))]
    write_atomic(folder / "kontakter.csv", _csv(contacts, ["Kategori", "Funktion", "Navn", "Organisation",
                                                           "Telefon", "Note", "Gælder for"]))
    counts["contacts"] = len(contacts)
    counts["pupils"] = _write_school_db(folder / "skole.db", rng, scale, today)
    return counts


def _write_school_db(path: Path, rng: random.Random, scale: Scale, today: dt.date) -> int:
    if path.exists():
        path.unlink()
    db = sqlite3.connect(path)
    db.executescript(SCHOOL_SCHEMA)
    classes = []
    for n in range(scale.classes):
        school = f"Skole {n % scale.schools + 1:03d}"
        grade = (n // scale.schools) % 10
        classes.append((n + 1, school, f"{grade}.{chr(65 + (n // scale.schools // 10) % 26)}", grade))
    db.executemany("INSERT INTO klasser VALUES (?, ?, ?)", [c[:3] for c in classes])
    pupils, guardians = [], []
    for pid in range(1, scale.pupils + 1):
        cid, _school, _cls, grade = classes[(pid - 1) % len(classes)]
        last = rng.choice(LAST)
        born = dt.date(today.year - 6 - grade, rng.randrange(1, 13), rng.randrange(1, 29))
        pupils.append((pid, cid, f"{rng.choice(FIRST)} {rng.choice(FIRST)} {last}", born.isoformat(),
                       rng.choice(("", "", "", "Nødder", "Gluten", "Astma – inhalator i tasken")),
                       f"{rng.choice(FIRST)} {last} (mor); {rng.choice(FIRST)} {last} (far)",
                       rng.choice(("Hovedindgang", "SFO", "Port ved cykelskur"))))
        for relation in ("mor", "far"):
            guardians.append((pid, f"{rng.choice(FIRST)} {last} ({relation})", _phone(rng)))
    db.executemany("INSERT INTO elever VALUES (?, ?, ?, ?, ?, ?, ?)", pupils)
    db.executemany("INSERT INTO vaerger VALUES (?, ?, ?)", guardians)
    db.commit()
    db.close()
    path.chmod(0o600)
    return len(pupils)
