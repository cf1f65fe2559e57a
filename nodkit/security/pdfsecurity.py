"""Read a PDF's encryption dictionary from its bytes, without any password.

`verify` must tell, fast and without the audience passwords, whether every
PDF in the store is encrypted with the PDF standard security handler at
AES-256, revision 6 (ISO 32000-2): /Filter /Standard, /V 5, /R 6 and the
crypt filter /StdCF with /CFM /AESV3 for streams and strings. pikepdf/qpdf
cannot open such a file without the password, so this module reads the
trailer and the /Encrypt object itself.

The encryption dictionary and the trailer are never encrypted (ISO 32000
7.6.1) and never inside an object stream, so a small tokenizer is enough:
`startxref` → the xref table's `trailer` dictionary or the xref stream's
dictionary → /Encrypt (direct or `N G R`) → the dictionary. Anything this
cannot follow raises `PdfSecurityError`; it never guesses "encrypted".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WHITESPACE = b"\x00\t\n\x0c\r "
_DELIMITERS = b"()<>[]{}/%"
_TAIL = 4096  # startxref and %%EOF sit in the last bytes; allow trailing junk


class PdfSecurityError(ValueError):
    """The file's structure could not be followed to an answer."""


@dataclass(frozen=True)
class Ref:
    num: int
    gen: int


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class EncryptionInfo:
    encrypted: bool
    filter: str | None = None
    v: int | None = None
    r: int | None = None
    length: int | None = None
    stream_method: str | None = None  # /CFM of the crypt filter named by /StmF
    string_method: str | None = None  # /CFM of the crypt filter named by /StrF

    @property
    def aes256_r6(self) -> bool:
        return (self.encrypted and self.filter == "Standard" and self.v == 5 and self.r == 6
                and self.stream_method == "AESV3" and self.string_method == "AESV3")

    def describe(self) -> str:
        if not self.encrypted:
            return "no encryption dictionary (NOT ENCRYPTED)"
        return (f"/Filter /{self.filter} /V {self.v} /R {self.r}, streams {self.stream_method}, "
                f"strings {self.string_method}")


class _Parser:
    def __init__(self, data: bytes, pos: int):
        self.data, self.pos = data, pos

    def skip(self) -> None:
        data, n = self.data, len(self.data)
        while self.pos < n:
            c = data[self.pos]
            if c in _WHITESPACE:
                self.pos += 1
            elif c == 0x25:  # % comment to end of line
                while self.pos < n and data[self.pos] not in b"\r\n":
                    self.pos += 1
            else:
                return

    def token(self) -> bytes:
        self.skip()
        data, start = self.data, self.pos
        if start >= len(data):
            raise PdfSecurityError("unexpected end of file")
        two = data[start:start + 2]
        if two in (b"<<", b">>"):
            self.pos += 2
            return two
        c = data[start:start + 1]
        if c in (b"[", b"]", b"{", b"}"):
            self.pos += 1
            return c
        if c == b"(" or c == b"<" or c == b"/":
            return c  # handled by the caller
        end = start
        while end < len(data) and data[end] not in _WHITESPACE and data[end] not in _DELIMITERS:
            end += 1
        if end == start:
            raise PdfSecurityError(f"unexpected byte at offset {start}")
        self.pos = end
        return data[start:end]

    def value(self):
        tok = self.token()
        if tok == b"<<":
            return self._dict()
        if tok == b"[":
            items = []
            while True:
                self.skip()
                if self.data[self.pos:self.pos + 1] == b"]":
                    self.pos += 1
                    return self._refs(items)
                items.append(self.value())
        if tok == b"(":
            return self._literal()
        if tok == b"<":
            end = self.data.find(b">", self.pos)
            if end < 0:
                raise PdfSecurityError("unterminated hex string")
            self.pos = end + 1
            return b"<hex>"
        if tok == b"/":
            return Name(self._name())
        if tok in (b"true", b"false"):
            return tok == b"true"
        if tok == b"null":
            return None
        if re.fullmatch(rb"[+-]?\d+", tok):
            return int(tok)
        if re.fullmatch(rb"[+-]?(\d+\.\d*|\.\d+|\d+)", tok):
            return float(tok)
        return tok  # keyword such as R, obj, stream

    def _name(self) -> str:
        self.pos += 1
        start = self.pos
        data = self.data
        while self.pos < len(data) and data[self.pos] not in _WHITESPACE and data[self.pos] not in _DELIMITERS:
            self.pos += 1
        raw = data[start:self.pos]
        return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw).decode("latin-1")

    def _literal(self) -> bytes:
        data = self.data
        self.pos += 1
        depth, start = 1, self.pos
        while self.pos < len(data):
            c = data[self.pos]
            if c == 0x5C:  # backslash escapes the next byte
                self.pos += 2
                continue
            if c == 0x28:
                depth += 1
            elif c == 0x29:
                depth -= 1
                if depth == 0:
                    self.pos += 1
                    return data[start:self.pos - 1]
            self.pos += 1
        raise PdfSecurityError("unterminated string")

    def _dict(self) -> dict:
        items: list = []
        while True:
            self.skip()
            if self.data[self.pos:self.pos + 2] == b">>":
                self.pos += 2
                break
            items.append(self.value())
        items = self._refs(items)
        if len(items) % 2:
            raise PdfSecurityError("dictionary with an odd number of items")
        out = {}
        for key, val in zip(items[::2], items[1::2]):
            if not isinstance(key, Name):
                raise PdfSecurityError("dictionary key is not a name")
            out[key.name] = val
        return out

    @staticmethod
    def _refs(items: list) -> list:
        """Fold `num gen R` triples into Ref."""
        out: list = []
        for item in items:
            if item == b"R" and len(out) >= 2 and isinstance(out[-1], int) and isinstance(out[-2], int) \
                    and not isinstance(out[-1], bool) and not isinstance(out[-2], bool):
                gen, num = out.pop(), out.pop()
                out.append(Ref(num, gen))
            else:
                out.append(item)
        return out


def _trailer(data: bytes) -> dict:
    tail_start = max(0, len(data) - _TAIL)
    at = data.rfind(b"startxref", tail_start)
    if at >= 0:
        m = re.match(rb"startxref\s+(\d+)", data[at:at + 40])
        if m:
            offset = int(m.group(1))
            try:
                return _trailer_at(data, offset)
            except PdfSecurityError:
                pass  # damaged offset: fall back to the last trailer keyword below
    at = data.rfind(b"trailer")
    if at < 0:
        raise PdfSecurityError("no trailer found (not a PDF, or truncated)")
    parser = _Parser(data, at + len(b"trailer"))
    if parser.token() != b"<<":
        raise PdfSecurityError("trailer is not a dictionary")
    return parser._dict()


def _trailer_at(data: bytes, offset: int) -> dict:
    if not 0 <= offset < len(data):
        raise PdfSecurityError("startxref points outside the file")
    parser = _Parser(data, offset)
    parser.skip()
    if data.startswith(b"xref", parser.pos):
        at = data.find(b"trailer", parser.pos)
        if at < 0:
            raise PdfSecurityError("xref table without trailer")
        parser.pos = at + len(b"trailer")
        if parser.token() != b"<<":
            raise PdfSecurityError("trailer is not a dictionary")
        return parser._dict()
    m = re.compile(rb"(\d+)\s+(\d+)\s+obj").match(data, parser.pos)
    if not m:
        raise PdfSecurityError("startxref does not point at an xref table or stream")
    parser.pos = m.end()
    if parser.token() != b"<<":
        raise PdfSecurityError("xref stream without a dictionary")
    found = parser._dict()
    if not isinstance(found.get("Type"), Name) or found["Type"].name != "XRef":
        raise PdfSecurityError("startxref points at an object that is not an xref stream")
    return found


def _object(data: bytes, ref: Ref) -> dict:
    pattern = re.compile(rb"(?<![0-9])%d\s+%d\s+obj" % (ref.num, ref.gen))
    last = None
    for last in pattern.finditer(data):
        pass  # the last definition wins (incremental updates)
    if last is None:
        raise PdfSecurityError(f"encryption object {ref.num} {ref.gen} R not found")
    parser = _Parser(data, last.end())
    if parser.token() != b"<<":
        raise PdfSecurityError(f"object {ref.num} {ref.gen} R is not a dictionary")
    return parser._dict()


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _name_of(value) -> str | None:
    return value.name if isinstance(value, Name) else None


def read_encryption(data: bytes) -> EncryptionInfo:
    """The encryption settings of PDF bytes, read without a password.

    Raises PdfSecurityError when the bytes are not a PDF whose trailer and
    encryption dictionary can be followed.
    """
    if not data.lstrip(b"\x00\t\n\x0c\r ")[:5] == b"%PDF-":
        raise PdfSecurityError("no %PDF- header")
    trailer = _trailer(data)
    enc = trailer.get("Encrypt")
    if enc is None:
        return EncryptionInfo(encrypted=False)
    if isinstance(enc, Ref):
        enc = _object(data, enc)
    if not isinstance(enc, dict):
        raise PdfSecurityError("/Encrypt is not a dictionary")
    filters = enc.get("CF") if isinstance(enc.get("CF"), dict) else {}

    def method(key: str) -> str | None:
        cf_name = _name_of(enc.get(key)) or "Identity"
        if cf_name == "Identity":
            return "Identity"
        cf = filters.get(cf_name)
        return _name_of(cf.get("CFM")) if isinstance(cf, dict) else None

    return EncryptionInfo(encrypted=True, filter=_name_of(enc.get("Filter")), v=_int(enc.get("V")),
                          r=_int(enc.get("R")), length=_int(enc.get("Length")),
                          stream_method=method("StmF"), string_method=method("StrF"))


def looks_like_pdf(head: bytes) -> bool:
    """True when the first bytes of a file are a PDF header (readers accept it within 1 KiB)."""
    return b"%PDF-" in head[:1024]
