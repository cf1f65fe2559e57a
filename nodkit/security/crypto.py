"""PDF encryption, the signing key pair and the audience passwords.

- PDFs: PDF standard security handler, AES-256, revision 6 (ISO 32000-2),
  through pikepdf/qpdf. Any reader opens them with the audience password.
  Encryption happens in memory: plaintext PDF bytes never reach the disk.
- Signing: Ed25519 over the exact manifest bytes (cryptography).
- Audience passwords live in keys/audiences.json (0600) with a generation
  number per change; old generations stay until no kept set uses them.
  They are stored retrievably on purpose: the unattended export must be able
  to encrypt with them. docs/store-format.md explains what this protects.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from nodkit.errors import CryptoError, IntegrityError
from nodkit.fsutil import private_dir, write_atomic

SIGNING_KEY = "signing.key"
PUBLIC_KEY = "signing.pub"
PASSWORDS = "audiences.json"
MIN_LENGTH = 12


# ---------------------------------------------------------------- PDF encryption

def encrypt_pdf(pdf: bytes, password: str) -> bytes:
    """AES-256 (R6) encrypt PDF bytes with `password` as user password."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return save_encrypted(doc, password)


def save_encrypted(doc: pikepdf.Pdf, password: str) -> bytes:
    """`doc` saved in memory, AES-256 (R6) encrypted with `password` as user password."""
    if not password:
        raise CryptoError("refusing to encrypt with an empty password")
    owner = secrets.token_urlsafe(32)  # nobody needs to change permissions later
    _pass_flate_through(doc)
    out = io.BytesIO()
    doc.save(out, encryption=pikepdf.Encryption(user=password, owner=owner, R=6, aes=True),
             deterministic_id=False)
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
        with pikepdf.open(io.BytesIO(data), password=password) as doc:
            enc = doc.encryption
            revision = int(enc.R) if doc.is_encrypted else None
            aes256 = doc.is_encrypted and enc.bits == 256 and enc.stream_method.name == "aesv3" and enc.string_method.name == "aesv3"
            pages = len(doc.pages)
    except pikepdf.PasswordError:
        raise CryptoError("the password does not open this PDF") from None
    except pikepdf.PdfError as exc:
        raise IntegrityError(f"not a readable PDF: {str(exc).splitlines()[0]}") from None
    return PdfCheck(encrypted=True, aes256=aes256, revision=revision, pages=pages, opens_without_password=False)


def decrypt_pdf(data: bytes, password: str) -> bytes:
    """Plain PDF bytes in memory (for printing); never written to disk."""
    try:
        with pikepdf.open(io.BytesIO(data), password=password) as doc:
            out = io.BytesIO()
            doc.save(out)
            return out.getvalue()
    except pikepdf.PasswordError:
        raise CryptoError("the password does not open this PDF") from None


# ---------------------------------------------------------------- signing

def generate_signing_key(keys_dir: Path, private: str = SIGNING_KEY, public: str = PUBLIC_KEY) -> None:
    """A new Ed25519 key pair; a station's own status key uses other file names than the kit's signing key."""
    private_dir(keys_dir)
    key = Ed25519PrivateKey.generate()
    write_atomic(keys_dir / private, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    write_atomic(keys_dir / public, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


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


def generate_password(words: int = 5) -> str:
    """A passphrase like 'hest-kop-fjord-mel-sne-47': easy to read aloud and type."""
    chosen = [secrets.choice(_WORDS) for _ in range(words)]
    return "-".join(chosen) + f"-{secrets.randbelow(90) + 10}"


def password_problems(password: str) -> list[str]:
    """Why a password is too weak; empty when it is acceptable."""
    problems = []
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
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text("utf-8"))
            except (ValueError, OSError) as exc:
                raise CryptoError(f"{self.path}: unreadable password file ({type(exc).__name__})") from None
        elif not keys_dir.exists():
            raise CryptoError(f"{keys_dir}: key folder missing", hint="restore keys/ from backup")

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
        problems = password_problems(password)
        if problems:
            raise CryptoError("password too weak: needs " + "; ".join(problems))
        entries = self.data.setdefault(audience, [])
        generation = max((e["generation"] for e in entries), default=0) + 1
        entries.append({"generation": generation, "created_at": now.isoformat(timespec="seconds"),
                        "password": password})
        self.save()
        return generation

    def forget_unused(self, audience: str, in_use: set[int]) -> None:
        """Drop old generations no kept set needs; the current one always stays."""
        entries = self.data.get(audience, [])
        if not entries:
            return
        newest = max(e["generation"] for e in entries)
        kept = [e for e in entries if e["generation"] == newest or e["generation"] in in_use]
        if len(kept) == len(entries):
            return  # nothing to forget: do not rewrite the secrets file on every export
        self.data[audience] = kept
        self.save()

    def save(self) -> None:
        private_dir(self.path.parent)
        write_atomic(self.path, json.dumps(self.data, indent=2, ensure_ascii=False).encode("utf-8"))
