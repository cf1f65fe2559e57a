import json

from conftest import list_text, run_cli


def test_demo_exports_readable_lists(demo_kit):
    files = demo_kit.files()
    assert {f["template"] for f in files} >= {"care-route", "medication", "class-list", "contacts"}
    route = next(f for f in files if f["template"] == "care-route")
    text = list_text(route, demo_kit.passwords[route["audience"]])
    assert "Køreliste" in text


def test_verify_ok_on_fresh_demo(demo_kit):
    result = run_cli("verify", "--kit", str(demo_kit.home))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("NODKIT OK")
