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
