"""A demo kit with deterministic synthetic data for one fictitious municipality.

The data is written the way real systems deliver it — semicolon-separated CSV
exports (as from a care record's nightly emergency report) and a SQLite
database (as from a school system) — into a sources folder *beside* the kit
home, and read back through the normal source adapters. Nothing is passed in
memory, and the kit home holds no plaintext personal data.

All people are invented. CPR-like numbers are fictitious: their serial part
starts with 9 and every one of them fails the modulus-11 check, so none can
be a real person's number. Names deliberately include Danish letters and
names outside Latin-1 (Łukasz Wiśniewski, Şükrü Yılmaz, Nguyễn Thị Hoa).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from nodkit.security.crypto import generate_password
from nodkit.fsutil import private_dir, write_atomic
from nodkit.kit.home import config_text, init_kit

SEED = 4_2026
FIRST = ("Anna Birthe Bent Carl Dorthe Else Erik Finn Grethe Hans Inge Jens Karen Kirsten Lars Lene Mette Niels "
         "Ole Poul Rasmus Signe Søren Tove Ulla Åse Ærenpris Ødis Jørgen Bodil Mads Freja Ida Noah Emil Clara "
         "Alma Oscar Karla Viggo Asta Malthe Sofie Ella Aksel").split()
LAST = ("Andersen Bach Christensen Dahl Eriksen Frederiksen Gregersen Hansen Jensen Kristensen Larsen Madsen "
        "Nielsen Olsen Pedersen Rasmussen Sørensen Thomsen Østergaard Ågård Bæk Lykke Holm Krogh Skov").split()
# Names that need Latin Extended / Vietnamese glyphs; each must appear on the lists
SPECIAL = ("Łukasz Wiśniewski", "Şükrü Yılmaz", "Nguyễn Thị Hoa", "Žofie Dvořáková", "Ştefan Ţărănescu",
           "Åse Ørnebjærg")
AREAS = ("Område Nord", "Område Syd", "Område Vest")
STREETS = ("Strandvejen", "Kirkegade", "Møllevej", "Skovbrynet", "Åboulevarden", "Østergade", "Engvej", "Søndergade")
SERVICES = ("Personlig pleje", "Medicingivning", "Tilsyn", "Hjælp til måltid", "Bad", "Sårpleje",
            "Kompressionsstrømper", "Toiletbesøg", "Rengøring")
DRUGS = (("Paracetamol", "500 mg", "oral"), ("Metformin", "850 mg", "oral"), ("Furosemid", "40 mg", "oral"),
         ("Insulin Lantus", "100 E/ml", "subkutan"), ("Marevan", "2,5 mg", "oral"), ("Ventoline", "0,1 mg/dosis", "inhalation"),
         ("Morfin", "10 mg", "oral"), ("Digoxin", "62,5 mikrog", "oral"), ("Simvastatin", "40 mg", "oral"))
SCHOOLS = ("Vestre Skole", "Nørrebakke Skole")
CLASSES = ("0.A", "1.A", "2.B", "3.A")


def fictitious_cpr(rng: random.Random, birth: dt.date) -> str:
    """DDMMYY-9XXX that fails modulus 11, so it cannot be a real CPR number."""
    weights = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
    while True:
        serial = f"9{rng.randrange(1000):03d}"
        digits = birth.strftime("%d%m%y") + serial
        if sum(int(d) * w for d, w in zip(digits, weights)) % 11:
            return f"{digits[:6]}-{serial}"


def _phone(rng: random.Random) -> str:
    return f"{rng.randrange(20, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}"


@dataclass
class Citizen:
    name: str
    cpr: str
    area: str
    address: str
    phone: str
    access: str
    relative: str
    needs: str
    power: str


def _people(rng: random.Random, n: int, specials: tuple[str, ...]) -> list[str]:
    names = list(specials)
    while len(names) < n:
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if name not in names:
            names.append(name)
    rng.shuffle(names)
    return names


def _csv(rows: list[list[str]], header: list[str]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # Excel-style UTF-8 with BOM


def write_sources(folder: Path, today: dt.date) -> None:
    """Write the demo's source exports into `folder` (created 0700, files 0600)."""
    rng = random.Random(SEED)
    private_dir(folder)
    citizens: list[Citizen] = []
    for i, name in enumerate(_people(rng, 60, SPECIAL)):
        birth = dt.date(1925 + rng.randrange(50), rng.randrange(1, 13), rng.randrange(1, 29))
        area = AREAS[i % len(AREAS)]
        power = rng.choice(("", "", "", "", "Ilt (iltkoncentrator)", "Respirator", "El-seng", "Sug"))
        citizens.append(Citizen(
            name=name, cpr=fictitious_cpr(rng, birth), area=area,
            address=f"{rng.choice(STREETS)} {rng.randrange(1, 140)}, {rng.choice(('6700 Esbjerg', '6705 Esbjerg Ø', '6710 Esbjerg V'))}",
            phone=_phone(rng), access=rng.choice(("", "Nøgleboks kode " + str(rng.randrange(1000, 9999)), "Ring på, borger åbner", "Nøgle hos nabo nr. 3")),
            relative=f"{rng.choice(FIRST)} {name.split()[-1]} (barn) {_phone(rng)}",
            needs=rng.choice(("", "Hørehæmmet", "Demens – tal roligt", "Diabetes", "Kørestol", "Blind")),
            power=power))
    staff = [(name, AREAS[i % len(AREAS)], rng.choice(("SSA", "SSH", "Sygeplejerske", "Leder", "Hjælper")),
              _phone(rng), rng.choice(("Dag", "Aften", "Nat")))
             for i, name in enumerate(_people(rng, 30, ("Ngô Bảo Châu", "Dagmar Ødegård")))]

    visits = []
    for day in range(4):
        date = today + dt.timedelta(days=day)
        for area in AREAS:
            mine = [c for c in citizens if c.area == area]
            for route in range(1, 4):
                for shift, start_hour in (("Dag", 7), ("Aften", 16)):
                    carer = rng.choice([s[0] for s in staff if s[1] == area])
                    minute = start_hour * 60
                    for c in rng.sample(mine, 5):
                        visits.append([area, f"{area.split()[-1]} {route}", shift, date.strftime("%d-%m-%Y"),
                                       f"{minute // 60:02d}.{minute % 60:02d}",
                                       f"{(minute + 30) // 60:02d}.{(minute + 30) % 60:02d}",
                                       c.name, c.cpr, c.address, c.access,
                                       ", ".join(rng.sample(SERVICES, rng.randrange(1, 4))), c.phone, carer])
                        minute += rng.choice((40, 45, 50, 60))
    # every special name is visited today, so it is on today's route lists
    for c in citizens:
        if c.name in SPECIAL and not any(v[6] == c.name and v[3] == today.strftime("%d-%m-%Y") for v in visits):
            visits.append([c.area, f"{c.area.split()[-1]} 1", "Dag", today.strftime("%d-%m-%Y"), "12.00", "12.30",
                           c.name, c.cpr, c.address, c.access, "Tilsyn", c.phone, staff[0][0]])
    write_atomic(folder / f"besoeg_{today:%Y%m%d}.csv", _csv(visits, [
        "Område", "Rute", "Vagt", "Dato", "Fra", "Til", "Borger", "CPR", "Adresse", "Adgang", "Ydelser",
        "Telefon", "Medarbejder"]))

    meds = []
    for c in citizens:
        allergy = rng.choice(("", "", "Penicillin", "Nødder", "Latex"))
        for drug, strength, route in rng.sample(DRUGS, rng.randrange(1, 5)):
            meds.append([c.area, c.name, c.cpr, drug, strength, rng.choice(("1 tablet", "2 tabletter", "½ tablet", "10 E", "2 pust")),
                         rng.choice(("08", "08, 20", "08, 12, 18", "22", "efter behov")), route,
                         rng.choice(("", "Gives med mad", "Knuses ikke", "Måles før: blodsukker")), allergy])
    write_atomic(folder / "medicin.csv", _csv(meds, [
        "Område", "Borger", "CPR", "Præparat", "Styrke", "Dosis", "Tidspunkter", "Administration", "Bemærkning",
        "Allergier"]))
    write_atomic(folder / "borgere.csv", _csv(
        [[c.area, c.name, c.cpr, c.address, c.phone, c.relative, c.needs, c.power,
          rng.choice(("1", "2", "3")) if c.power else "", c.access] for c in citizens],
        ["Område", "Borger", "CPR", "Adresse", "Telefon", "Pårørende", "Særlige behov", "Strømafhængig udstyr",
         "Prioritet", "Adgang"]))
    write_atomic(folder / "medarbejdere.csv", _csv([list(s) for s in staff],
                                                   ["Navn", "Område", "Funktion", "Telefon", "Vagt"]))
    contacts = [
        ("Krisestab", "Kommunaldirektør", "Helle Munk", "Esbjerg Kommune", "76 16 10 00", "", ""),
        ("Krisestab", "Beredskabschef", "Jørgen Vestergaard", "Syd- og Sønderjyllands Politi", "114", "", ""),
        ("Ledere", "Leder, Hjemmeplejen Nord", "Karen Bøgh", "", "21 43 65 87", "", "Hjemmeplejen"),
        ("Ledere", "Leder, Hjemmeplejen Syd", "Nguyễn Văn An", "", "22 11 33 44", "", "Hjemmeplejen"),
        ("Ledere", "Skoleleder, Vestre Skole", "Şükrü Yılmaz", "", "23 45 67 89", "", "Skoler"),
        ("Leverandører", "Apotek (vagt)", "Esbjerg Løve Apotek", "", "75 12 00 30", "Døgnåbent", "Hjemmeplejen"),
        ("Leverandører", "Iltleverandør", "Linde Healthcare", "", "70 22 22 22", "Nødlevering af ilt", "Hjemmeplejen"),
        ("Forsyning", "El (fejl)", "Din Forsyning", "", "70 11 50 00", "", ""),
        ("Forsyning", "Vand", "Din Forsyning Vand", "", "70 11 50 01", "", ""),
        ("Løbere", "Forbindelsesofficer", "Łukasz Wiśniewski", "Beredskab", "24 68 10 12", "Cykel, område Nord", ""),
        ("Løbere", "Løber", "Ida Holm", "Frivillig", "25 79 13 57", "Område Syd", ""),
        ("Mødesteder", "Mødested", "Rådhuset, Torvegade 74", "", "", "Krisestab mødes her ved strømsvigt", ""),
        ("Informationspunkter", "Informationspunkt", "Biblioteket, Nørregade 19", "", "", "Borgere henvises hertil", ""),
    ]
    write_atomic(folder / "kontakter.csv", _csv([list(c) for c in contacts],
                                                ["Kategori", "Funktion", "Navn", "Organisation", "Telefon", "Note",
                                                 "Gælder for"]))
    _write_school_db(folder / "skole.db", rng, today)


# The school system's export as the demo and the benchmark write it: one view joins the tables.
SCHOOL_SCHEMA = """
    CREATE TABLE klasser (id INTEGER PRIMARY KEY, skole TEXT NOT NULL, klasse TEXT NOT NULL);
    CREATE TABLE elever (id INTEGER PRIMARY KEY, klasse_id INTEGER REFERENCES klasser(id), navn TEXT NOT NULL,
                         foedselsdato TEXT, allergier TEXT, afhentes_af TEXT, afhentningssted TEXT);
    CREATE TABLE vaerger (elev_id INTEGER REFERENCES elever(id), navn TEXT, telefon TEXT);
    CREATE INDEX vaerger_elev ON vaerger(elev_id);  -- keeps the view's subquery linear
    CREATE VIEW elevliste AS
      SELECT k.skole, k.klasse, e.navn AS elev, e.foedselsdato, e.allergier, e.afhentes_af, e.afhentningssted,
             (SELECT group_concat(v.navn || ' ' || v.telefon, '; ') FROM vaerger v WHERE v.elev_id = e.id) AS vaerger
      FROM elever e JOIN klasser k ON k.id = e.klasse_id;
"""


def _write_school_db(path: Path, rng: random.Random, today: dt.date) -> None:
    if path.exists():
        path.unlink()
    db = sqlite3.connect(path)
    db.executescript(SCHOOL_SCHEMA)
    specials = ["Nguyễn Thị Hoa", "Şükrü Yılmaz Jr.", "Łucja Wiśniewska"]
    pupil_id = 0
    for school in SCHOOLS:
        for cls in CLASSES:
            db.execute("INSERT INTO klasser (skole, klasse) VALUES (?, ?)", (school, cls))
            class_id = db.execute("SELECT last_insert_rowid()").fetchone()[0]
            grade = int(cls[0])
            for n in range(16):
                pupil_id += 1
                name = specials.pop() if specials and n == 3 else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                born = dt.date(today.year - 6 - grade, rng.randrange(1, 13), rng.randrange(1, 29))
                last = name.split()[-1]
                db.execute("INSERT INTO elever VALUES (?, ?, ?, ?, ?, ?, ?)", (
                    pupil_id, class_id, name, born.isoformat(), rng.choice(("", "", "", "Nødder", "Gluten", "Astma – inhalator i tasken")),
                    f"{rng.choice(FIRST)} {last} (mor); {rng.choice(FIRST)} {last} (far)" + rng.choice(("", "; Mormor Inge")),
                    rng.choice(("Hovedindgang", "SFO", "Port ved cykelskur"))))
                for relation in ("mor", "far"):
                    db.execute("INSERT INTO vaerger VALUES (?, ?, ?)",
                               (pupil_id, f"{rng.choice(FIRST)} {last} ({relation})", _phone(rng)))
    db.commit()
    db.close()
    path.chmod(0o600)


DEMO_DATASETS = '''[datasets.visits]
kind = "csv"
path = "{src}/besoeg_*.csv"
[datasets.visits.columns]
area = "Område"
route = "Rute"
shift = "Vagt"
date = "Dato"
start = "Fra"
end = "Til"
citizen = "Borger"
cpr = "CPR"
address = "Adresse"
access = "Adgang"
services = "Ydelser"
phone = "Telefon"
employee = "Medarbejder"

[datasets.medication]
kind = "csv"
path = "{src}/medicin.csv"
[datasets.medication.columns]
area = "Område"
citizen = "Borger"
cpr = "CPR"
drug = "Præparat"
strength = "Styrke"
dose = "Dosis"
times = "Tidspunkter"
route = "Administration"
note = "Bemærkning"
allergies = "Allergier"

[datasets.citizens]
kind = "csv"
path = "{src}/borgere.csv"
[datasets.citizens.columns]
area = "Område"
citizen = "Borger"
cpr = "CPR"
address = "Adresse"
phone = "Telefon"
relatives = "Pårørende"
needs = "Særlige behov"
equipment = "Strømafhængig udstyr"
priority = "Prioritet"
access = "Adgang"

[datasets.staff]
kind = "csv"
path = "{src}/medarbejdere.csv"
[datasets.staff.columns]
name = "Navn"
area = "Område"
role = "Funktion"
phone = "Telefon"
shift = "Vagt"

[datasets.contacts]
kind = "csv"
path = "{src}/kontakter.csv"
[datasets.contacts.columns]
category = "Kategori"
role = "Funktion"
name = "Navn"
organisation = "Organisation"
phone = "Telefon"
note = "Note"
audience = "Gælder for"

[datasets.pupils]
kind = "sql"
url = "sqlite:///{src}/skole.db"
query = "SELECT * FROM elevliste"
[datasets.pupils.columns]
school = "skole"
class = "klasse"
pupil = "elev"
birth_date = "foedselsdato"
allergies = "allergier"
guardians = "vaerger"
pickup = "afhentes_af"
pickup_point = "afhentningssted"
'''


def sources_dir_for(home: Path) -> Path:
    return home.parent / f"{home.name}-kilder"


def create_demo(home: Path, sources: Path | None = None, today: dt.date | None = None,
                name: str = "Demo Kommune · Nødliste-pc") -> tuple[dict[str, str], Path]:
    """Create a demo kit home and its sources; returns (passwords, sources folder)."""
    sources = sources or sources_dir_for(home)
    # the kit's own date (config_text's timezone), not the PC's: between 23:00 and 00:00 UTC they differ
    today = today or dt.datetime.now(ZoneInfo("Europe/Copenhagen")).date()
    write_sources(sources, today)
    passwords = {a: generate_password() for a in ("pleje", "skole")}
    init_kit(home, passwords, name=name,
             config=config_text(name, DEMO_DATASETS.replace("{src}", sources.resolve().as_posix()),
                                location="Demo Rådhus, stuen, lokale 0.14 (generatorforsynet)",
                                contact="IT-vagten, tlf. 76 16 10 00"))
    return passwords, sources
