"""PDF encryption, the signing key pair and the audience passwords.

- PDFs: PDF standard security handler, AES-256, revision 6 (ISO 32000-2),
  through pikepdf/qpdf. Any reader opens them with the audience password.
  Encryption happens in memory: plaintext PDF bytes never reach the disk.
- Signing: Ed25519 over the exact manifest bytes (cryptography).
- Audience passwords live in keys/audiences.json (0600) with a generation
  number per change; old generations stay until no kept set uses them.
  They are stored retrievably on purpose: the unattended export must be able
  to encrypt with them. docs/store-format.md explains what this protects.
  Every change is a read-modify-write under keys/.lock that re-reads the
  file first, so a `password set` during an export is never overwritten by
  the export's older copy (issue 16).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import math
import re
import secrets
import string
import stringprep
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from nodkit.errors import CryptoError, IntegrityError
from nodkit.fsutil import SECRET_MODE, secret_dir, short_lock, write_atomic

SIGNING_KEY = "signing.key"
PUBLIC_KEY = "signing.pub"
PUBLIC_MODE = 0o644  # a public key: readable by every login that prints (it checks the signatures)
PASSWORDS = "audiences.json"
KEYS_LOCK = ".lock"  # held for each read-modify-write of a key file
MIN_LENGTH = 12


# ---------------------------------------------------------------- PDF encryption

def encrypt_pdf(pdf: bytes, password: str) -> bytes:
    """AES-256 (R6) encrypt PDF bytes with `password` as user password."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return save_encrypted(doc, password)


# A rendered list that only lives until its binder is assembled (store format 4 stores it as pages
# of the binder): sealed with AES-256-GCM under a key that exists only in the exporting process's and
# its render processes' memory, instead of being PDF-encrypted for an audience and then decrypted
# again by the binder job. Never published: not a PDF, and unreadable once the export ends.
TRANSIENT_MAGIC = b"nodkit-transient-1\n"


def transient_key() -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    return AESGCM.generate_key(bit_length=256)


def seal_transient(data: bytes, key: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    nonce = secrets.token_bytes(12)
    return TRANSIENT_MAGIC + nonce + AESGCM(key).encrypt(nonce, data, TRANSIENT_MAGIC)


def is_transient(data: bytes) -> bool:
    return data.startswith(TRANSIENT_MAGIC)


def open_transient(data: bytes, key: bytes) -> bytes:
    """The plain bytes of `seal_transient`; CryptoError for another key or changed bytes."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    if not is_transient(data):
        raise CryptoError("not a transient list file")
    body = data[len(TRANSIENT_MAGIC):]
    try:
        return AESGCM(key).decrypt(body[:12], body[12:], TRANSIENT_MAGIC)
    except InvalidTag:
        raise CryptoError("a transient list file does not open with this export's key (changed?)") from None


def save_encrypted(doc: pikepdf.Pdf, password: str) -> bytes:
    """`doc` saved in memory, AES-256 (R6) encrypted with `password` as user password."""
    if not password:
        raise CryptoError("refusing to encrypt with an empty password")
    password = normalise_password(password)
    owner = secrets.token_urlsafe(32)  # nobody needs to change permissions later
    _pass_flate_through(doc)
    out = io.BytesIO()
    # object streams: the page and stream dictionaries (two per page) compressed together, and
    # a cross-reference stream instead of the table: a fifth of a list file's bytes (PDF 1.5,
    # which every reader nodkit is tested with reads; docs/performance.md "Disk per set")
    doc.save(out, encryption=pikepdf.Encryption(user=password, owner=owner, R=6, aes=True),
             deterministic_id=False, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


def _pass_flate_through(doc: pikepdf.Pdf) -> None:
    """Write `/Filter [/FlateDecode]` (reportlab's form) as `/Filter /FlateDecode`.

    The same filter either way, but qpdf copies a stream's Flate data as it is
    only when /Filter is a name; for the one-element array it decompresses and
    recompresses every stream, which was most of the encryption time.
    """
    for obj in doc.objects:
        if isinstance(obj, pikepdf.Stream):
            filters = obj.get("/Filter")
            if isinstance(filters, pikepdf.Array) and len(filters) == 1:
                obj.Filter = filters[0]
                parms = obj.get("/DecodeParms")
                if isinstance(parms, pikepdf.Array) and len(parms) == 1:  # goes with the filter
                    if isinstance(parms[0], pikepdf.Dictionary):
                        obj.DecodeParms = parms[0]
                    else:  # null: no parameters
                        del obj.DecodeParms


@dataclass
class PdfCheck:
    encrypted: bool
    aes256: bool
    revision: int | None
    pages: int | None
    opens_without_password: bool


def inspect_pdf(data: bytes, password: str | None) -> PdfCheck:
    """Open encrypted PDF bytes; raises CryptoError on a wrong password, IntegrityError if unreadable."""
    try:
        with pikepdf.open(io.BytesIO(data)):
            opens_plain = True
    except pikepdf.PasswordError:
        opens_plain = False
    except pikepdf.PdfError as exc:
        raise IntegrityError(f"not a readable PDF: {str(exc).splitlines()[0]}") from None
    if opens_plain or password is None:
        return PdfCheck(encrypted=not opens_plain, aes256=False, revision=None, pages=None,
                        opens_without_password=opens_plain)
    try:
        with _open_with(data, password) as doc:
            enc = doc.encryption
            revision = int(enc.R) if doc.is_encrypted else None
            aes256 = doc.is_encrypted and enc.bits == 256 and enc.stream_method.name == "aesv3" and enc.string_method.name == "aesv3"
            pages = len(doc.pages)
    except pikepdf.PasswordError:
        raise CryptoError("the password does not open this PDF") from None
    except pikepdf.PdfError as exc:
        raise IntegrityError(f"not a readable PDF: {str(exc).splitlines()[0]}") from None
    return PdfCheck(encrypted=True, aes256=aes256, revision=revision, pages=pages, opens_without_password=False)


def _open_with(data: bytes, password: str) -> pikepdf.Pdf:
    """Open with the password as PDF 2.0 normalises it, else exactly as given (a file made before
    nodkit normalised passwords); raises pikepdf.PasswordError when neither opens it."""
    try:
        candidates = list(dict.fromkeys([normalise_password(password), password]))
    except CryptoError:
        candidates = [password]
    for n, candidate in enumerate(candidates):
        try:
            return pikepdf.open(io.BytesIO(data), password=candidate)
        except pikepdf.PasswordError:
            if n == len(candidates) - 1:
                raise
    raise AssertionError("unreachable")


def decrypt_pdf(data: bytes, password: str) -> bytes:
    """Plain PDF bytes in memory (for printing); never written to disk."""
    return decrypt_parts(data, password, [None])[0]


class PageRangeError(IntegrityError):
    """Pages asked for that the file does not have: nothing of it is given out."""

    def __init__(self, message: str, total: int):
        super().__init__(message)
        self.total = total  # the pages the file has


def decrypt_parts(data: bytes, password: str, ranges: list[tuple[int, int] | None]) -> list[bytes]:
    """Plain PDF bytes in memory, one per range of the one encrypted file `data`: (first page,
    1-based; number of pages) gives those pages alone as a PDF of their own (a list stored in its
    unit's binder, store format 4), None the whole file. The file is opened once; nothing is written
    to disk. Raises PageRangeError when a range is not inside the file's pages."""
    try:
        with _open_with(data, password) as doc:
            total = len(doc.pages)
            for wanted in ranges:
                if wanted is not None and not (wanted[0] >= 1 and wanted[1] >= 1 and wanted[0] + wanted[1] - 1 <= total):
                    raise PageRangeError(f"pages {wanted[0]}–{wanted[0] + wanted[1] - 1} asked for, "
                                         f"the file has {total}", total)
            out = []
            for wanted in ranges:
                if wanted is None:
                    out.append(_save_plain(doc))
                    continue
                with _pages_of(doc, *wanted) as part:
                    out.append(_save_plain(part))
            return out
    except pikepdf.PasswordError:
        raise CryptoError("the password does not open this PDF") from None


def _pages_of(doc: pikepdf.Pdf, first: int, count: int) -> pikepdf.Pdf:
    """A new PDF of `count` pages of `doc` from page `first` on: only what those pages use is in it
    (not the other pages, nor the binder's outline that points at them)."""
    part = pikepdf.new()
    part.pages.extend(doc.pages[first - 1:first - 1 + count])
    return part


def _save_plain(doc: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- signing

def generate_signing_key(keys_dir: Path, private: str = SIGNING_KEY, public: str = PUBLIC_KEY) -> None:
    """A new Ed25519 key pair; a station's own status key uses other file names than the kit's signing key."""
    secret_dir(keys_dir)
    key = Ed25519PrivateKey.generate()
    write_atomic(keys_dir / private, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), SECRET_MODE)
    # public: staff logins check every manifest's signature with it before printing (docs/design.md)
    write_atomic(keys_dir / public, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), PUBLIC_MODE)


def public_from_pem(data: bytes, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM bytes (a station pins the exporter's signing.pub with this)."""
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise CryptoError(f"{where}: not a readable public key (PEM)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CryptoError(f"{where}: not an Ed25519 key")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _load_private(keys_dir: Path, name: str = SIGNING_KEY) -> Ed25519PrivateKey:
    path = keys_dir / name
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise CryptoError(f"{path}: signing key missing", hint="restore keys/ from backup, or 'nodkit init' a new kit") from None
    except (ValueError, TypeError, OSError):
        raise CryptoError(f"{path}: not a readable Ed25519 private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CryptoError(f"{path}: not an Ed25519 key")
    return key


def load_public(keys_dir: Path, name: str = PUBLIC_KEY) -> Ed25519PublicKey:
    path = keys_dir / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CryptoError(f"{path}: public signing key missing") from None
    except OSError:
        raise CryptoError(f"{path}: not a readable public key") from None
    return public_from_pem(data, str(path))


def sign(keys_dir: Path, data: bytes, key: str = SIGNING_KEY) -> bytes:
    """Signature file content: base64 of the 64-byte Ed25519 signature, newline."""
    return base64.b64encode(_load_private(keys_dir, key).sign(data)) + b"\n"


def check_signature(public: Ed25519PublicKey, data: bytes, signature_file: bytes) -> bool:
    """True only for the exact file `sign` writes: a changed byte anywhere is a failure.

    Base64 decoding alone forgives some changes (the unused bits of the last
    character, trailing whitespace), so the file must also be the canonical
    encoding of the signature it holds.
    """
    try:
        signature = base64.b64decode(signature_file.strip(), validate=True)
        if base64.b64encode(signature) + b"\n" != signature_file:
            return False
        public.verify(signature, data)
        return True
    except (InvalidSignature, ValueError):
        return False


# ---------------------------------------------------------------- audience passwords

_WORDS = (
    "abe ager alf and anker arm bad bager bakke bal bane bark bil birk blad blok blomst bord bro bryg bue bus by "
    "cykel dal dam dans dek dige dyne dør eg elg eng fad falk fane fisk fjord flag fløjte fod fold fyr gade gaffel "
    "gran gris gryde gulv hat have hav hest hjort hus hytte is jern jord kage kam kat kilde kirke klit kniv ko kop "
    "kost krage kran kurv lampe lam lav leg lys mark mast mel mole mose mur mus nat net nål ost pen pil plov pude "
    "ravn reb ris ro rose sand sild sko skov sky sne sol spand stol storm sø tag tang tog tromme tå ugle ur vej "
    "vind vogn væg ænder ø"
).split()
_WORDS = [w for w in _WORDS if w.isascii()]  # easy to type on any keyboard under stress


MIN_GENERATED_BITS = 60  # AES-256 R6's password hash is cheap to try: ~1,650 guesses/s per core in Python
# Longest password every reader takes: poppler's command-line tools (pdftotext -upw) and PDF 1.7
# readers cut a password at 32 bytes, so a longer one is refused there (found by tests/test_readers.py)
MAX_BYTES = 32
_CODE = "abcdefghjkmnpqrstuvwxyz23456789"  # no i, l, o, 0, 1: nothing to misread from the envelope
GENERATED_WORDS, GENERATED_GROUPS = 3, 2  # 'hest-kop-fjord-k7xm-r4tq'


def generated_bits(words: int = GENERATED_WORDS, groups: int = GENERATED_GROUPS) -> float:
    """Entropy of a generated passphrase: its words and its 4-character groups."""
    return words * math.log2(len(_WORDS)) + 4 * groups * math.log2(len(_CODE))


def generate_password(words: int = GENERATED_WORDS, groups: int = GENERATED_GROUPS) -> str:
    """A passphrase like 'hest-kop-fjord-k7xm-r4tq': ≥ 60 bits, ASCII, at most 32 characters,
    words to read aloud and short groups of unambiguous letters and digits."""
    while True:  # a rare draw that looks like a pattern ('aaaa') is drawn again
        chosen = [secrets.choice(_WORDS) for _ in range(words)]
        chosen += ["".join(secrets.choice(_CODE) for _ in range(4)) for _ in range(groups)]
        password = "-".join(chosen)
        if not password_problems(password):
            return password


def normalise_password(password: str) -> str:
    """The password as PDF 2.0 (ISO 32000-2, 7.6.4.3.3) hashes it: SASLprep (RFC 4013).

    Non-ASCII spaces become spaces, characters "mapped to nothing" go, and
    NFKC makes a decomposed 'å' (a + U+030A, as pasted from a Mac) the 'å' a
    keyboard types, so every reader derives the same key. Refuses what
    SASLprep prohibits (control characters, private use, non-characters).
    """
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password
                     if not stringprep.in_table_b1(c))
    text = unicodedata.normalize("NFKC", mapped)
    for c in text:
        if (stringprep.in_table_c21_c22(c) or stringprep.in_table_c3(c) or stringprep.in_table_c4(c)
                or stringprep.in_table_c5(c) or stringprep.in_table_c6(c) or stringprep.in_table_c7(c)
                or stringprep.in_table_c8(c) or stringprep.in_table_c9(c)):
            raise CryptoError(f"the password holds a character PDF passwords may not contain (U+{ord(c):04X})")
    return text


_COMMON_WORDS = {
    "password", "passw0rd", "kodeord", "adgangskode", "adgang", "velkommen", "qwerty", "qwertz", "asdf",
    "sommer", "vinter", "forår", "foraar", "efterår", "efteraar", "januar", "februar", "marts", "april", "maj",
    "juni", "juli", "august", "september", "oktober", "november", "december", "mandag", "tirsdag", "onsdag",
    "torsdag", "fredag", "lørdag", "søndag", "kommune", "hjemmepleje", "hjemmeplejen", "skole", "nodkit",
    "nødliste", "test", "admin", "danmark", "letmein", "welcome", "summer", "winter", "spring", "autumn",
}


def _common_pattern(password: str) -> str | None:
    """Why a password follows a pattern attackers try first, or None."""
    low = password.lower()
    letters = re.sub(r"[^a-zæøåäöü]", "", low)
    if letters in _COMMON_WORDS:
        return "not a common word or name with digits and symbols added (like 'Sommer2026!!')"
    if (letters and not letters.strip(letters[0])) or re.search(r"(.)\1{3,}", password) or re.fullmatch(r"(.{1,6}?)\1{2,}.{0,3}", password):
        return "no long repeats (like 'aaaa' or 'abcabcabc')"
    for run in ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopåasdfghjklæø", "9876543210"):
        if any(run[i:i + 5] in low for i in range(len(run) - 4)):
            return "no runs like '12345', 'abcde' or 'qwert'"
    return None


def password_problems(password: str) -> list[str]:
    """Why a password is too weak; empty when it is acceptable."""
    problems = []
    if len(password.encode("utf-8")) > MAX_BYTES:
        problems.append(f"at most {MAX_BYTES} bytes (some PDF readers, e.g. poppler's tools, cut longer passwords "
                        "and then cannot open the lists)")
    common = _common_pattern(password)
    if common:
        problems.append(common)
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    classes = sum(any(c in group for c in password) for group in
                  (string.ascii_lowercase + "æøå", string.ascii_uppercase + "ÆØÅ", string.digits))
    classes += any(not c.isalnum() for c in password)
    if len(password) < 20 and classes < 3:
        problems.append("three of: lower case, upper case, digits, other characters (or 20+ characters)")
    if len(set(password)) < 6:
        problems.append("more different characters")
    if password != password.strip():
        problems.append("no spaces at the start or end")
    return problems


@dataclass(frozen=True)
class PasswordEntry:
    generation: int
    created_at: str
    password: str


class PasswordBook:
    """keys/audiences.json: {audience: [{generation, created_at, password}, ...]}."""

    def __init__(self, keys_dir: Path):
        self.path = keys_dir / PASSWORDS
        self.data: dict[str, list[dict]] = {}
        if not keys_dir.exists():
            raise CryptoError(f"{keys_dir}: key folder missing", hint="restore keys/ from backup")
        self.data = self._read()

    def _read(self) -> dict[str, list[dict]]:
        try:
            return json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (ValueError, OSError) as exc:
            raise CryptoError(f"{self.path}: unreadable password file ({type(exc).__name__})") from None

    @contextmanager
    def _changing(self):
        """Hold keys/.lock and start from the file as it is now, not as it was when this book was read:
        a change made by another process meanwhile (a `password set` during an export) is kept."""
        secret_dir(self.path.parent)
        try:
            with short_lock(self.path.parent / KEYS_LOCK):
                self.data = self._read()
                yield self.data
        except TimeoutError as exc:
            raise CryptoError(f"{exc}: another nodkit process is changing the passwords; try again") from None

    def audiences(self) -> list[str]:
        return sorted(self.data)

    def current(self, audience: str) -> PasswordEntry:
        entries = self.data.get(audience)
        if not entries:
            raise CryptoError(f"{self.path}: no password for audience '{audience}'",
                              hint=f"set one with 'nodkit password set {audience}'")
        return PasswordEntry(**max(entries, key=lambda e: e["generation"]))

    def get(self, audience: str, generation: int) -> PasswordEntry:
        for entry in self.data.get(audience, []):
            if entry["generation"] == generation:
                return PasswordEntry(**entry)
        raise CryptoError(f"{self.path}: audience '{audience}' has no password generation {generation}")

    def set(self, audience: str, password: str, now: dt.datetime) -> int:
        password = normalise_password(password)
        problems = password_problems(password)
        if problems:
            raise CryptoError("password too weak: needs " + "; ".join(problems))
        with self._changing() as data:
            entries = data.setdefault(audience, [])
            generation = max((e["generation"] for e in entries), default=0) + 1
            entries.append({"generation": generation, "created_at": now.isoformat(timespec="seconds"),
                            "password": password})
            self.save()
        return generation

    def forget_unused(self, audience: str, in_use: set[int]) -> None:
        """Drop old generations no kept set needs; the current one always stays."""
        with self._changing() as data:
            entries = data.get(audience, [])
            if not entries:
                return
            newest = max(e["generation"] for e in entries)
            kept = [e for e in entries if e["generation"] == newest or e["generation"] in in_use]
            if len(kept) == len(entries):
                return  # nothing to forget: do not rewrite the secrets file on every export
            data[audience] = kept
            self.save()

    def save(self) -> None:
        secret_dir(self.path.parent)
        write_atomic(self.path, json.dumps(self.data, indent=2, ensure_ascii=False).encode("utf-8"), SECRET_MODE)
