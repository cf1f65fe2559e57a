"""The small QR code on every printed page, so an old printout can be matched to its export.

Payload (ASCII, `|`-separated, no personal data):

    nodkit:1|<set id>|<file>|<page>|<check>

- `set id`  the export set (folder under store/sets/)
- `file`    the file inside the audience folder, ``<unit>/<list>.pdf``,
            percent-encoded (Danish letters become %C3%A5 etc.)
- `page`    the page number within that file
- `check`   first 10 hex digits of a SHA-256 over the list's content (data
            time and every printed cell of the unit), so two printouts of the
            same list can be compared even across sets

The same text is printed in small type in the footer. Generated with
reportlab's own QR encoder: offline, no extra dependency. Error correction
level M, fixed mask pattern 0: a fixed mask is valid QR (readers try any of
the eight); searching for the "best" mask cost 25 ms a page, which a
300-page list cannot afford.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
from typing import Iterable
from urllib.parse import quote

from reportlab.graphics.barcode import qrencoder

from nodkit.render import fonts

PREFIX = "nodkit:1"

# reportlab rebuilds the Reed-Solomon generator polynomial for every code (half
# the encoding time); it depends only on the block length and is never mutated.
if not hasattr(qrencoder.QRUtil.getErrorCorrectPolynomial, "cache_info"):
    qrencoder.QRUtil.getErrorCorrectPolynomial = staticmethod(
        functools.lru_cache(maxsize=64)(qrencoder.QRUtil.getErrorCorrectPolynomial))


def content_check(as_of: str, rows: Iterable[Iterable[str]]) -> str:
    """Short hash over the printed content of one list file (linear in the rows)."""
    h = hashlib.sha256(as_of.encode())
    for cells in rows:
        h.update(b"\x1e")
        h.update("\x1f".join(cells).encode("utf-8"))
    return h.hexdigest()[:10]


def payload(set_id: str, file_label: str, page: int, check: str) -> str:
    return f"{PREFIX}|{set_id}|{quote(file_label, safe='/')}|{page}|{check}"


def parse(text: str) -> dict[str, str]:
    """Inverse of `payload` (for tools that read a scanned code)."""
    from urllib.parse import unquote
    prefix, version_rest = text.split(":", 1)
    version, set_id, file_label, page, check = version_rest.split("|")
    if prefix != "nodkit" or version != "1":
        raise ValueError("not a nodkit page code")
    return {"set": set_id, "file": unquote(file_label), "page": page, "check": check}


def footer(set_id: str, file_label: str, page: int, check: str) -> str:
    """The small line at the foot of every list page: the page code's content for a person to read."""
    return f"Sæt {set_id} · {file_label} · side {page} · kontrol {check}"


_PAGE_NUMBER = re.compile(r"Side (\d+) af\s*(\d+)")
_FOOTER = re.compile(r"Sæt \S+ · .*? · side \d+")


def range_problem(first_text: str, last_text: str, *, set_id: str, file_label: str, pages: int) -> str | None:
    """Why two pages, read back as text, are not the first and last page of `file_label`'s
    `pages` pages in set `set_id` (a list stored as a page range of its binder), or None when
    they are. Page 1 and page `pages` of that list, each saying "Side n af `pages`", can only
    be the whole list: what a wrong first page in a signed manifest would print instead.

    Characters the font cannot draw are left out of the text a reader gets back; they are left
    out of the expected footer too, and every run of white space counts as one space."""
    missing = fonts.missing_glyphs([file_label])
    for where, text, number in (("first", first_text, 1), ("last", last_text, pages)):
        want = _skeleton(footer(set_id, file_label, number, ""), missing)
        page_number = _PAGE_NUMBER.search(text)
        if want not in _skeleton(text, missing) or page_number is None \
                or (int(page_number[1]), int(page_number[2])) != (number, pages):
            found = _FOOTER.search(" ".join(text.split()))
            return (f"its {where} page is not page {number} of {pages} of {file_label} in set {set_id} "
                    f"(it reads: {found[0] if found else 'no nodkit page footer'}"
                    f"{', ' + ' '.join(page_number[0].split()) if page_number else ''})")
    return None


def _skeleton(text: str, missing: set[str]) -> str:
    return " ".join("".join(c for c in text if c not in missing).split())


def matrix(text: str) -> list[list[bool]]:
    """The QR module matrix for `text` (rows top to bottom; True = dark).

    Module for module what reportlab's encoder makes (`_reference_matrix`,
    tests/test_pagecode.py compares them), several times faster: a list gets
    a code on every page. The fixed patterns and the data module positions of
    a version are worked out once; the Reed-Solomon check bytes come from
    log/antilog tables instead of reportlab's polynomial objects; the data
    bits are placed with C-level byte operations.
    """
    n, flat = _flat(text)
    return [[bool(v) for v in flat[r * (n + 1):r * (n + 1) + n]] for r in range(n)]


def _flat(text: str) -> tuple[int, bytes]:
    """(modules per side n, the matrix row by row as bytes of 0/1, each row followed by one 0
    so that no run of dark modules continues into the next row)."""
    qr = qrencoder.QRCode(None, _LEVEL)
    qr.addData(text)
    version = qr.calculate_version()
    n, base, gather, places = _layout(version)
    codewords = _codewords(qr.dataList, version)
    bits = format(int.from_bytes(codewords, "big"), f"0{len(codewords) * 8}b")
    bits = bits.encode("ascii").translate(_BITS).ljust(places + 1, b"\0")  # remainder bits and the "not data" slot
    data = bytes(gather(bits))
    return n, (int.from_bytes(base, "big") ^ int.from_bytes(data, "big")).to_bytes(n * (n + 1), "big")


_BITS = bytes.maketrans(b"01", b"\0\1")


def _reference_matrix(text: str) -> list[list[bool]]:
    """reportlab's own encoder, same level and mask (the reference for `matrix`)."""
    qr = qrencoder.QRCode(None, _LEVEL)
    qr.addData(text)
    qr.version = qr.calculate_version()
    qr.makeImpl(False, 0)
    return qr.modules


_LEVEL = qrencoder.QRErrorCorrectLevel.M
_EXP = qrencoder.EXP_TABLE
_LOG = qrencoder.LOG_TABLE


@functools.lru_cache(maxsize=8)
def _layout(version: int):
    """For `version`: (side n, fixed patterns with mask 0 applied to empty data modules as bytes,
    a gather from the data bits to every module (0 for fixed modules), number of data modules).
    Rows are n + 1 bytes long: a 0 after each row (see `_flat`)."""
    qr = qrencoder.QRCode(version, _LEVEL)
    qr.version = version
    qr.dataCache = []  # no data: every data module is just its mask bit
    qr.makeImpl(False, 0)
    n = qr.moduleCount
    positions = list(qr._dataPosIterator())
    base = b"".join(bytes(1 if m else 0 for m in row) + b"\0" for row in qr.modules)
    source = [len(positions)] * (n * (n + 1))  # index of the zero byte after the data bits
    for k, (col, row) in enumerate(positions):
        source[row * (n + 1) + col] = k
    return n, base, operator.itemgetter(*source), len(positions)


@functools.lru_cache(maxsize=8)
def _blocks(version: int) -> list[tuple[int, int, list[int]]]:
    """(data codewords, check codewords, remainder table) per Reed-Solomon block."""
    out = []
    for block in qrencoder.QRRSBlock.getRSBlocks(version, _LEVEL):
        ec = block.totalCount - block.dataCount
        gen = qrencoder.QRUtil.getErrorCorrectPolynomial(ec)
        out.append((block.dataCount, ec, _remainder_table(tuple(_LOG[gen.get(i)] for i in range(1, ec + 1)))))
    return out


@functools.lru_cache(maxsize=16)
def _remainder_table(gen_log: tuple[int, ...]) -> list[int]:
    """For each factor 0-255: factor × the generator (without its leading 1), packed into one int."""
    return [0] + [int.from_bytes(bytes(_EXP[(_LOG[f] + g) % 255] for g in gen_log), "big") for f in range(1, 256)]


class _Bits:
    """qrencoder.QRBitBuffer's writing interface on one integer (it stores bit by bit)."""

    def __init__(self):
        self.value = 0
        self.length = 0

    def put(self, num: int, length: int) -> None:
        self.value = (self.value << length) | (num & ((1 << length) - 1))
        self.length += length

    def putBit(self, bit) -> None:  # noqa: N802 (qrencoder's name)
        self.put(1 if bit else 0, 1)

    def getLengthInBits(self) -> int:  # noqa: N802
        return self.length


def _codewords(data_list, version: int) -> bytes:
    """Data and error-correction codewords, interleaved (as qrencoder.QRCode.createData)."""
    blocks = _blocks(version)
    total = sum(count for count, _, _ in blocks)
    buffer = _Bits()
    for data in data_list:
        if type(data) is qrencoder.QR8bitByte and isinstance(data.data, bytes):  # all 8-bit bytes at once
            data.write_header(buffer, version)
            buffer.put(int.from_bytes(data.data, "big"), 8 * len(data.data))
        else:
            data.write(buffer, version)
    if buffer.length > total * 8:
        raise ValueError("page code too long for its QR version")
    if buffer.length + 4 <= total * 8:
        buffer.put(0, 4)
    buffer.put(0, -buffer.length % 8)
    pad = (0xEC, 0x11)
    n = 0
    while buffer.length < total * 8:
        buffer.put(pad[n % 2], 8)
        n += 1
    raw = buffer.value.to_bytes(buffer.length // 8, "big")
    out = bytearray(raw)  # the data codewords, then each block's check codewords after them
    offset = 0
    for count, ec_count, table in blocks:
        # polynomial division by the generator with the remainder held as one int of ec_count bytes
        rem, shift, keep = 0, 8 * (ec_count - 1), (1 << 8 * ec_count) - 1
        for byte in raw[offset:offset + count]:
            rem = ((rem << 8) & keep) ^ table[byte ^ (rem >> shift)]
        offset += count
        out += rem.to_bytes(ec_count, "big")
    return bytes(_interleave(version)(out))


@functools.lru_cache(maxsize=8)
def _interleave(version: int):
    """For `version`: a gather from (data blocks, then check blocks, each block in turn) to the
    transmitted order (first codeword of every block, then the second, … as QR interleaves them)."""
    blocks = _blocks(version)
    starts, offset = [], 0
    for count, _, _ in blocks:
        starts.append(offset)
        offset += count
    ec_starts = []
    for _, ec_count, _ in blocks:
        ec_starts.append(offset)
        offset += ec_count
    order = []
    for group, sizes in ((starts, [c for c, _, _ in blocks]), (ec_starts, [e for _, e, _ in blocks])):
        for i in range(max(sizes)):
            order += [start + i for start, size in zip(group, sizes) if i < size]
    return operator.itemgetter(*order)


def draw(canvas, text: str, x: float, y: float, size: float) -> None:
    """Draw the QR code for `text` with its lower-left corner at (x, y), `size` points square.

    One inline image mask, one bit per module (dark = painted in black),
    scaled to `size`: about 0.3 KB of page stream against 2 KB for a path of
    one rectangle per run of dark modules, which was nearly half of a list
    file's bytes and a third of its render time (docs/performance.md). Hex
    encoded (/AHx), so no byte of the image can be read as the end of it.
    Readers draw an image mask without smoothing, module edges stay sharp."""
    n, flat = _flat(text)
    canvas.addLiteral(f"q 0 g {_num(size)} 0 0 {_num(size)} {_num(x)} {_num(y)} cm\n"
                      f"BI /W {n} /H {n} /IM true /BPC 1 /D [1 0] /F /AHx ID\n{_mask_hex(n, flat)}> EI Q")


def _mask_hex(n: int, flat: bytes) -> str:
    """`_flat`'s rows (top row first) packed 1 bit per module, each row padded to whole bytes, as hex."""
    row_bytes = (n + 7) // 8
    shift = row_bytes * 8 - n
    bits = flat.translate(_ASCII_BITS)
    return b"".join((int(bits[r * (n + 1):r * (n + 1) + n], 2) << shift).to_bytes(row_bytes, "big")
                    for r in range(n)).hex()


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


_ASCII_BITS = bytes.maketrans(b"\0\1", b"01")
