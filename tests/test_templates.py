"""Template loading: built-ins, site overrides and additions, located errors."""

from __future__ import annotations

import json
import re

import pytest

from conftest import list_text, pdftotext, run_cli
from nodkit.errors import TemplateError
from nodkit.lists.templates import load_template, load_templates, template_files

BUILTINS = {"attendance", "care-route", "citizens", "class-list", "contacts", "medication", "pickup",
            "power-dependent", "staff"}


def test_every_builtin_loads():
    templates = load_templates(None)
    assert set(templates) == BUILTINS
    route = templates["care-route"]
    assert route.horizon is not None and route.horizon.field == "date" and route.horizon.days == 3
    power = templates["power-dependent"]
    assert [(c.field, c.present) for c in power.include_if] == [("equipment", True)]
    assert templates["attendance"].tick_boxes.days == 5
    # key-box / access codes are a column only on the route list
    assert [t for t, tpl in templates.items() if tpl.column("access")] == ["care-route"]
    # CPR columns are masked to the birth date on every built-in
    for tpl in templates.values():
        for col in tpl.columns:
            if col.type == "cpr":
                assert col.mask == "birthdate", (tpl.id, col.field)


SITE_TEMPLATE = '''# A list the municipality adds: night-shift phone list
format_version = 1
title = "Nattevagter"
dataset = "staff"
unit = "area"
sort = ["name"]

[[include_if]]
field = "shift"
one_of = ["Nat"]

[[columns]]
field = "name"
heading = "Nattevagt"

[[columns]]
field = "phone"
heading = "Telefon"
type = "phone"
'''


def _add_to_audience(home, audience: str, template: str) -> None:
    cfg = home / "nodkit.toml"
    text = cfg.read_text("utf-8")
    text = re.sub(rf'(\[audiences\.{audience}\]\ntitle = "[^"]*"\ntemplates = \[)', rf'\1"{template}", ', text)
    cfg.write_text(text, "utf-8")


def test_site_template_adds_a_list_and_overrides_a_builtin(demo_kit):
    templates_dir = demo_kit.home / "templates"
    (templates_dir / "night-staff.toml").write_text(SITE_TEMPLATE, "utf-8")
    override = template_files(None)["staff"].read_text("utf-8").replace('title = "Medarbejderliste"',
                                                                         'title = "Personaleliste (lokal)"')
    (templates_dir / "staff.toml").write_text(override, "utf-8")
    assert template_files(demo_kit.home)["staff"] == templates_dir / "staff.toml"
    _add_to_audience(demo_kit.home, "pleje", "night-staff")
    result = run_cli("export", "--kit", str(demo_kit.home), "--json")
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["files"]
    night = [f for f in files if f["template"] == "night-staff"]
    assert {f["unit"] for f in night} == {"Område Nord", "Område Syd", "Område Vest"}
    text = list_text(night[0], demo_kit.passwords["pleje"])
    assert "Nattevagter" in text
    staff_rows = [line.split(";") for line in (demo_kit.sources / "medarbejdere.csv").read_text("utf-8-sig").splitlines()[1:]]
    nights = [r for r in staff_rows if r[1] == night[0]["unit"] and r[4] == "Nat"]
    assert night[0]["rows"] == len(nights)
    for r in staff_rows:
        if r[1] == night[0]["unit"]:
            assert (r[0] in text) == (r[4] == "Nat")
    staff = next(f for f in files if f["template"] == "staff")
    assert "Personaleliste (lokal)" in list_text(staff, demo_kit.passwords["pleje"])
    binder = next(f for f in files if f["template"] == "binder" and f["unit"] == night[0]["unit"])
    assert "Nattevagter" in pdftotext(binder["path"], demo_kit.passwords["pleje"])


@pytest.mark.parametrize("body, line, key", [
    ('title = "X"\ndataset = "d"\ncolour = "red"\n[[columns]]\nfield = "a"\n', 3, "colour"),
    ('title = "X"\ndataset = "d"\n[[columns]]\nfield = "a"\n[[columns]]\nfield = "b"\nwidth = 0\n', 7, "columns.width"),
    ('title = "X"\ndataset = "d"\n[[columns]]\nfield = "a"\n[[include_if]]\nfield = "a"\npresnt = true\n', 7,
     "include_if.presnt"),
    ('title = "X"\ndataset = "d"\n[[columns]]\nfield = "a"\n[[include_if]]\nfield = "a"\n', 5, "include_if"),
    ('title = "X"\ndataset = "d"\n[horizon]\nfield = "date"\ndays = 90\n[[columns]]\nfield = "a"\n', 5,
     "horizon.days"),
    ('title = "X"\ndataset = "d"\n[order]\nshift = ["Dag"]\n[[columns]]\nfield = "a"\n', 4, "order.shift"),
    ('title = "X"\ndataset = "d"\n[tick_boxes]\ndays = "5"\n[[columns]]\nfield = "a"\n', 4, "tick_boxes.days"),
    ('title = "X"\ndataset = "d"\n[[columns]]\nfield = "a"\ntype = "cpr"\nmask = "stars"\n', 6, "columns.mask"),
    ('title = "X"\ndataset = "d"\n[[columns]]\nfield = "a"\n[[write_in]]\nwidth = 1\n', 5, "write_in.heading"),
    ('title = "X"\ndataset = "d"\n[[columns]]\nfield = "a"\n[[write_in]]\nheading = " "\n', 6, "write_in.heading"),
    ('title = "X"\ndataset = "d"\n[[columns]]\nfield = "a"\n[[write_in]]\nheading = "U"\nwidht = 1\n', 7,
     "write_in.widht"),
    ('title = "X"\ndataset = "d"\ncover_audience = "who"\n[[columns]]\nfield = "a"\n', 3, "cover_audience"),
])
def test_template_errors_name_file_line_and_key(tmp_path, body, line, key):
    path = tmp_path / "broken.toml"
    path.write_text(body, "utf-8")
    with pytest.raises(TemplateError) as exc:
        load_template(path)
    assert str(exc.value).startswith(f"{path}:{line}: key '{key}'"), str(exc.value)


def test_unknown_template_key_points_at_the_template_reference(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text('title = "X"\ndataset = "d"\nsecton = ["a"]\n[[columns]]\nfield = "a"\n', "utf-8")
    with pytest.raises(TemplateError, match=r"key 'secton': unknown key .*see docs/templates\.md\)$"):
        load_template(path)


def test_toml_syntax_error_names_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('title = "X"\ndataset = \n', "utf-8")
    with pytest.raises(TemplateError, match=rf"^{re.escape(str(path))}:2: "):
        load_template(path)


def test_broken_site_template_fails_only_its_list(demo_kit):
    (demo_kit.home / "templates" / "citizens.toml").write_text(
        'title = "X"\ndataset = "citizens"\nbogus = 1\n[[columns]]\nfield = "citizen"\n', "utf-8")
    result = run_cli("export", "--kit", str(demo_kit.home), "--json")
    data = json.loads(result.stdout)
    assert data["status"] == "partial"
    assert any("citizens.toml:3" in r and "bogus" in r for r in data["reasons"])
    assert "citizens" not in {f["template"] for f in data["files"]}
    assert "care-route" in {f["template"] for f in data["files"]}
