"""PDF encryption: AES-256 that any reader opens, and the page streams carried over as they are."""

from __future__ import annotations

import io
import subprocess
import zlib

import pikepdf
import pytest

from nodkit.security import crypto
from nodkit.errors import CryptoError


def _list_pdf() -> bytes:
    from reportlab.pdfgen.canvas import Canvas
    buf = io.BytesIO()
    c = Canvas(buf)
    for n in range(1, 4):
        c.drawString(100, 700, f"Borger {n} – Ærø Østergade")
        c.showPage()
    c.save()
    return buf.getvalue()


def test_encrypted_pdf_opens_with_the_password_only(tmp_path):
    path = tmp_path / "liste.pdf"
    path.write_bytes(crypto.encrypt_pdf(_list_pdf(), "hest-kop-sne-42"))
    shown = subprocess.run(["qpdf", "--show-encryption", "--password=hest-kop-sne-42", str(path)],
                           capture_output=True, text=True, check=True).stdout
    assert "R = 6" in shown and "AESv3" in shown
    text = subprocess.run(["pdftotext", "-upw", "hest-kop-sne-42", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Borger 3 – Ærø Østergade" in text
    assert subprocess.run(["pdftotext", "-upw", "forkert-kodeord", str(path), "-"],
                          capture_output=True).returncode != 0


def test_empty_password_is_refused():
    with pytest.raises(CryptoError):
        crypto.encrypt_pdf(_list_pdf(), "")


def test_page_streams_are_copied_not_recompressed():
    """reportlab writes /Filter [/FlateDecode]; qpdf copies a Flate stream as it is only
    when /Filter is the name, and otherwise decompresses and recompresses every stream
    (that was most of the encryption time). A stream compressed at zlib level 1, which
    qpdf would not reproduce, shows which happened."""
    content = b"".join(b"BT /F1 9 Tf 1 0 0 1 %d 700 Tm (Borger %d) Tj ET\n" % (n, n) for n in range(400))
    raw = zlib.compress(content, 1)
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].Contents = pdf.make_stream(raw)
    pdf.pages[0].Contents.Filter = pikepdf.Array([pikepdf.Name.FlateDecode])
    buf = io.BytesIO()
    pdf.save(buf, compress_streams=False)
    with pikepdf.open(io.BytesIO(crypto.encrypt_pdf(buf.getvalue(), "hest-kop-sne-42")),
                      password="hest-kop-sne-42") as doc:
        stream = doc.pages[0].Contents
        assert stream.get("/Filter") == pikepdf.Name.FlateDecode
        assert stream.read_raw_bytes() == raw
        assert stream.read_bytes() == content


@pytest.mark.parametrize("parms", [pikepdf.Array([pikepdf.Dictionary(Predictor=1)]), pikepdf.Array([None])])
def test_decode_parameters_go_with_their_filter(tmp_path, parms):
    """A one-element /DecodeParms array belongs to the one-element /Filter array: both become single."""
    content = b"BT /F1 9 Tf (Borger) Tj ET\n" * 50
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].Contents = pdf.make_stream(zlib.compress(content))
    pdf.pages[0].Contents.Filter = pikepdf.Array([pikepdf.Name.FlateDecode])
    pdf.pages[0].Contents.DecodeParms = parms
    buf = io.BytesIO()
    pdf.save(buf, compress_streams=False)
    path = tmp_path / "liste.pdf"
    path.write_bytes(crypto.encrypt_pdf(buf.getvalue(), "hest-kop-sne-42"))
    checked = subprocess.run(["qpdf", "--check", "--password=hest-kop-sne-42", str(path)], capture_output=True,
                             text=True)
    assert checked.returncode == 0 and "No syntax or stream encoding errors" in checked.stdout, checked.stdout
    with pikepdf.open(path, password="hest-kop-sne-42") as doc:
        assert doc.pages[0].Contents.read_bytes() == content
        assert not isinstance(doc.pages[0].Contents.get("/DecodeParms"), pikepdf.Array)


# ---------------------------------------------------------------- passwords (issue 16, item 11)

def test_generated_passphrases_carry_at_least_60_bits():
    assert crypto.generated_bits() >= 60
    for _ in range(200):
        password = crypto.generate_password()
        assert password.isascii() and len(password) <= crypto.MAX_BYTES, password
        assert len(password.split("-")) == crypto.GENERATED_WORDS + crypto.GENERATED_GROUPS
        assert not crypto.password_problems(password), password


def test_passwords_longer_than_32_bytes_are_refused():
    """poppler's tools cut a password at 32 bytes: a longer one would not open the lists there."""
    assert any("at most 32 bytes" in p for p in crypto.password_problems("Hest-Kop-Fjord-Mel-Sne-Sol-By-4721"))


@pytest.mark.parametrize("weak", ["Sommer2026!!", "Kodeord2026!!", "aaaaaaaaaaaaaaaaaaaaaa", "abcabcabcabcabcabcab",
                                  "Hest-12345-Kop!", "Qwerty-Hest-Kop-9"])
def test_common_patterns_are_refused(weak):
    assert crypto.password_problems(weak), weak


def test_a_decomposed_password_opens_in_qpdf_and_poppler_as_typed(tmp_path, demo_kit):
    """'å' pasted from a Mac is a + U+030A; a keyboard types U+00E5. nodkit stores and encrypts
    the SASLprep form (PDF 2.0), so the lists open with what staff type, and `password set`
    warns about non-ASCII passwords."""
    import json
    import unicodedata
    from conftest import run_cli
    typed = "Hest-kop-ærø-sål-2931-Vindue"
    decomposed = unicodedata.normalize("NFD", typed)
    assert decomposed != typed
    result = run_cli("password", "set", "skole", "--kit", str(demo_kit.home), input=f"{decomposed}\n{decomposed}\n")
    assert result.exit_code == 0, result.output
    assert "non-ASCII" in result.stderr
    exported = run_cli("export", "--kit", str(demo_kit.home), "--json")
    assert exported.exit_code == 0, exported.output
    path = next(f["path"] for f in json.loads(exported.stdout)["files"] if f["audience"] == "skole")
    assert subprocess.run(["qpdf", "--check", f"--password={typed}", path], capture_output=True).returncode == 0
    assert subprocess.run(["pdftotext", "-upw", typed, path, "-"], capture_output=True).returncode == 0
    assert subprocess.run(["mutool", "info", "-p", typed, path], capture_output=True).returncode == 0
    assert subprocess.run(["pdftotext", "-upw", "forkert", path, "-"], capture_output=True).returncode != 0
