"""Reading the encryption dictionary without a password, checked against qpdf."""

from __future__ import annotations

import io
import subprocess

import pikepdf
import pytest

from kittools import plain_pdf
from nodkit.security.pdfsecurity import PdfSecurityError, read_encryption


def encrypted(R: int = 6, **save) -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out, encryption=pikepdf.Encryption(user="user-pw-123", owner="owner-pw", R=R), **save)
    return out.getvalue()


@pytest.mark.filterwarnings("ignore:Encryption R=5 is deprecated")
@pytest.mark.parametrize("blob,aes256_r6,r", [
    (lambda: encrypted(6), True, 6),
    (lambda: encrypted(6, object_stream_mode=pikepdf.ObjectStreamMode.generate), True, 6),  # xref stream
    (lambda: encrypted(6, linearize=True), True, 6),
    (lambda: encrypted(4), False, 4),
    (lambda: encrypted(5), False, 5),
])
def test_encryption_dictionary_matches_qpdf(tmp_path, blob, aes256_r6, r):
    data = blob()
    info = read_encryption(data)
    assert info.encrypted and info.aes256_r6 is aes256_r6 and info.r == r
    path = tmp_path / "f.pdf"
    path.write_bytes(data)
    shown = subprocess.run(["qpdf", "--show-encryption", "--password=user-pw-123", str(path)],
                           capture_output=True, text=True).stdout
    assert f"R = {r}" in shown


def test_demo_files_are_aes256_r6(demo_kit):
    files = sorted(demo_kit.set_dir.rglob("*.pdf"))
    assert files
    for path in files:
        info = read_encryption(path.read_bytes())
        assert info.aes256_r6, (path, info)
        assert (info.filter, info.v, info.r, info.stream_method) == ("Standard", 5, 6, "AESV3")


def test_plain_pdf_is_not_encrypted():
    assert read_encryption(plain_pdf()).encrypted is False
    assert read_encryption(plain_pdf(), ).describe().endswith("(NOT ENCRYPTED)")


def test_encrypt_word_inside_content_does_not_fool_it():
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].Contents = pdf.make_stream(b"% /Encrypt 1 0 R trailer << /Encrypt 1 0 R >>")
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    assert read_encryption(out.getvalue()).encrypted is False


@pytest.mark.parametrize("data", [b"", b"hello", b"%PDF-1.7\n", encrypted(6)[:200]])
def test_garbage_raises_instead_of_guessing(data):
    with pytest.raises(PdfSecurityError):
        read_encryption(data)
