"""Helpers for tests that reshape a demo kit: re-signed manifests, cloned sets, quiet schedules."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
from pathlib import Path

import pikepdf

from nodkit.security import crypto
from nodkit.store.sets import MANIFEST, SIGNATURE


def quiet_schedule(home: Path) -> None:
    """Replace the built-in schedule by a yearly export so verify's result does not depend on the hour."""
    (home / "schedules").mkdir(exist_ok=True)
    (home / "schedules" / "default.toml").write_text(
        'format_version = 1\n[[jobs]]\nid = "export-yearly"\naction = "export"\ncron = "0 5 1 1 *"\n', "utf-8")


def edit_manifest(set_dir: Path, keys: Path, change) -> None:
    """Apply change(dict) to manifest.json and sign it again with the kit's key (what a bug, not an attacker, does)."""
    data = json.loads((set_dir / MANIFEST).read_text("utf-8"))
    change(data)
    raw = (json.dumps(data, sort_keys=True, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    (set_dir / MANIFEST).write_bytes(raw)
    (set_dir / SIGNATURE).write_bytes(crypto.sign(keys, raw))


def as_format_2(set_dir: Path, keys: Path, passwords: dict[str, str]) -> list[str]:
    """Rewrite a set as nodkit wrote it before store format 4 (as format 2): every list inside a binder written
    again as a file of its own (its pages cut from the binder, encrypted with the audience password),
    manifest format 2, signed again. Returns the list files written (paths relative to the set)."""
    data = json.loads((set_dir / MANIFEST).read_text("utf-8"))
    written = []
    for f in data["files"]:
        first = f.pop("first_page", None)
        if first is None:
            continue
        [plain] = crypto.decrypt_parts((set_dir / f["path"]).read_bytes(), passwords[f["audience"]],
                                       [(first, f["pages"])])
        blob = crypto.encrypt_pdf(plain, passwords[f["audience"]])
        f["path"] = f["path"].rsplit("/", 1)[0] + f"/{f['template']}.pdf"
        f["sha256"], f["bytes"] = hashlib.sha256(blob).hexdigest(), len(blob)
        (set_dir / f["path"]).write_bytes(blob)
        written.append(f["path"])
    for dataset in data["datasets"].values():
        dataset.pop("fingerprint", None)  # format 3
    data["format_version"] = 2
    raw = (json.dumps(data, sort_keys=True, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    (set_dir / MANIFEST).write_bytes(raw)
    (set_dir / SIGNATURE).write_bytes(crypto.sign(keys, raw))
    return written


def clone_set(home: Path, created: dt.datetime, status: str = "good") -> str:
    """Copy LATEST under a new id made at `created`, re-signed. Returns the new id."""
    store = home / "store"
    latest = (store / "LATEST").read_text().strip()
    new_id = created.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + latest[-4:]
    target = store / "sets" / new_id
    shutil.copytree(store / "sets" / latest, target)

    def change(m):
        m["set_id"], m["created_at"], m["status"] = new_id, created.isoformat(), status
    edit_manifest(target, home / "keys", change)
    return new_id


def plain_pdf(text: str = "Fortroligt") -> bytes:
    """A small unencrypted PDF."""
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Title"] = text
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def reencrypt(blob: bytes, password: str, **encryption) -> bytes:
    """The same PDF re-encrypted with other settings (e.g. R=4, or an empty user password)."""
    with pikepdf.open(io.BytesIO(blob), password=password) as doc:
        out = io.BytesIO()
        doc.save(out, encryption=pikepdf.Encryption(owner="owner-pw", **encryption))
    return out.getvalue()
