"""The readers staff have (issue 16, item 12): every list and binder of a set opens with its
audience password and is refused without it (and with a wrong one) in each engine:

- PDFium (Chrome, Edge): pypdfium2
- pdf.js (Firefox): pdfjs-dist from npm, run with node (tests/readers/, installed by .ci/run
  or on first use here; node_modules is not committed)
- MuPDF (SumatraPDF): mutool
- poppler (Evince, Okular): pdftotext
- qpdf
A reader that is missing skips locally and fails in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

READERS = Path(__file__).resolve().parent / "readers"
WRONG = "forkert-adgangskode-1"


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PDF reader test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def files(_demo_template) -> list[tuple[Path, str, str]]:
    """(file, its password, its template) for every PDF of the demo kit's LATEST set."""
    kit = _demo_template
    out = [(Path(f["path"]), kit.passwords[f["audience"]], f["template"]) for f in kit.files()]
    assert {t for _, _, t in out} >= {"binder", "care-route", "class-list", "contacts"}
    return out


def _pdfium(path: Path, password: str | None) -> bool:
    import pypdfium2
    try:
        doc = pypdfium2.PdfDocument(str(path), password=password)
    except pypdfium2.PdfiumError:
        return False
    try:
        return len(doc) > 0 and bool(doc[0].get_textpage().get_text_range())
    finally:
        doc.close()


def _tool(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0


CLI_READERS = {
    "mupdf": (["mutool"], lambda path, pw: ["mutool", "draw", "-q", "-o", os.devnull, *(["-p", pw] if pw else []),
                                            str(path), "1"]),
    "poppler": (["pdftotext"], lambda path, pw: ["pdftotext", *(["-upw", pw] if pw else []), "-l", "1", str(path), "-"]),
    "qpdf": (["qpdf"], lambda path, pw: ["qpdf", "--check", *([f"--password={pw}"] if pw else []), str(path)]),
}


@pytest.mark.parametrize("reader", sorted(CLI_READERS))
def test_command_line_readers_open_with_the_password_only(files, reader):
    tools, argv = CLI_READERS[reader]
    if not all(shutil.which(t) for t in tools):
        _unavailable(f"{reader}: {' '.join(tools)} not installed")
    for path, password, _ in files:
        assert _tool(argv(path, password)), (reader, path)
        assert not _tool(argv(path, None)), (reader, "opens without a password", path)
        assert not _tool(argv(path, WRONG)), (reader, "opens with a wrong password", path)


def test_pdfium_opens_with_the_password_only(files):
    try:
        import pypdfium2  # noqa: F401
    except ImportError:
        _unavailable("pypdfium2 not installed (pip install -e '.[test]')")
    for path, password, _ in files:
        assert _pdfium(path, password), path
        assert not _pdfium(path, None), ("opens without a password", path)
        assert not _pdfium(path, WRONG), ("opens with a wrong password", path)


def _pdfjs_installed() -> None:
    if shutil.which("node") is None:
        _unavailable("node not installed (pdf.js runs in node)")
    if not (READERS / "node_modules" / "pdfjs-dist").is_dir():
        npm = shutil.which("npm")
        done = subprocess.run([npm, "install", "--prefix", str(READERS), "--no-audit", "--no-fund",
                               "--loglevel=error"], capture_output=True, text=True, timeout=300) if npm else None
        if done is None or done.returncode:
            _unavailable(f"pdfjs-dist could not be installed into {READERS}: "
                         f"{done.stderr.strip()[-300:] if done else 'npm not installed'}")


def test_pdfjs_opens_with_the_password_only(files):
    _pdfjs_installed()
    asks = [{"file": str(path), "password": pw} for path, password, _ in files for pw in (password, None, WRONG)]
    proc = subprocess.run(["node", str(READERS / "pdfjs_open.mjs")], input="\n".join(map(json.dumps, asks)),
                          capture_output=True, text=True, timeout=600, cwd=READERS)
    assert proc.returncode == 0, proc.stderr
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == len(asks)
    for ask, answer in zip(asks, answers):
        if ask["password"] is not None and ask["password"] != WRONG:
            assert answer["opened"] and answer["pages"] >= 1 and answer["text"].strip(), answer
        else:
            assert not answer["opened"] and answer["error"] == "PasswordException", (ask["file"], answer)
