"""The manifest: what an export set contains, sealed by an Ed25519 signature.

manifest.json is canonical JSON (sorted keys, UTF-8); manifest.sig holds the
base64 signature over exactly those bytes. A manifest with an unknown
format_version is refused rather than guessed at. Schema: docs/store-format.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from nodkit.errors import IntegrityError

# 2: datasets.<name>.digest and inputs_digest (no change, no new set); files[].title
# 3: datasets.<name>.fingerprint (an unchanged source file is known without parsing it)
# 4: files[].first_page (a unit's list stored as a page range of its binder)
FORMAT_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)  # a version-1 manifest reads with both digests None and no report fields
REPORT_FIELDS = ("title", "source_sha256")  # format 2: FileEntry fields of a ready-made report
RANGE_FIELDS = ("first_page",)  # format 4: only on a list stored as pages of its unit's binder
# the file fields a version added: an older manifest that has them is refused (written by no nodkit)
ADDED_IN = {2: REPORT_FIELDS, 4: RANGE_FIELDS}
STATUSES = ("good", "partial", "incomplete", "suspect")


@dataclass
class DatasetEntry:
    source: str
    kind: str
    as_of: str | None
    rows: int
    flagged_rows: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. stale source file (max_age_hours)
    # SHA-256 of what was fetched (sources.base.snapshot_digest); None in sets made before digests
    # existed and for a dataset that failed. Equal digests are how an export knows nothing changed.
    digest: str | None = None
    # format 3: SHA-256 of the source file's name, reader options and bytes the rows were parsed
    # from (sources.base.file_fingerprint); None for other kinds, a stale file, and older sets
    fingerprint: str | None = None


@dataclass
class FileEntry:
    path: str  # relative to the set folder, "/"-separated
    sha256: str
    bytes: int
    pages: int
    template: str
    audience: str
    unit: str
    password_generation: int
    sections: int = 0
    rows: int = 0
    flagged_rows: int = 0
    as_of: str | None = None
    # format 2, a ready-made report (kind "reports") only: its title as the source names it, and the
    # SHA-256 of the source file taken (the same file in two sets is the same, unchanged report)
    title: str | None = None
    source_sha256: str | None = None
    # format 4: the list is not a file of its own but `pages` pages of the binder at `path`, from this
    # 1-based page on (`sha256`/`bytes` are the binder's). None: the entry is the whole file at `path`.
    first_page: int | None = None

    @property
    def last_page(self) -> int | None:
        return None if self.first_page is None else self.first_page + self.pages - 1

    @property
    def footer_label(self) -> str | None:
        """For a list inside a binder: the file its pages' footers name (`<unit folder>/<list>.pdf`,
        the list's own file inside the audience folder, as rendered); None for a whole file."""
        if self.first_page is None:
            return None
        return f"{self.path.rsplit('/', 2)[-2]}/{self.template}.pdf"

    @property
    def label(self) -> str:
        """What was taken, for the audit log and messages (unique within a set): the path, and for a
        list inside a binder its pages and template."""
        if self.first_page is None:
            return self.path
        pages = f"{self.first_page}–{self.last_page}" if self.pages > 1 else str(self.first_page)
        return f"{self.path} side {pages} ({self.template})"


@dataclass
class Manifest:
    set_id: str
    created_at: str
    kit: str
    nodkit_version: str
    status: str
    status_reasons: list[str] = field(default_factory=list)
    datasets: dict[str, DatasetEntry] = field(default_factory=dict)
    files: list[FileEntry] = field(default_factory=list)
    format_version: int = FORMAT_VERSION
    # SHA-256 of everything else that shapes the set (nodkit version, nodkit.toml, the template
    # files, password generations, signing key): export.pipeline.inputs_digest. None before digests.
    inputs_digest: str | None = None

    def to_bytes(self) -> bytes:
        data = asdict(self)
        data["format_version"] = FORMAT_VERSION
        for entry in data["files"]:
            for key in REPORT_FIELDS + RANGE_FIELDS:
                if entry[key] is None:
                    del entry[key]  # only a ready-made report's entry, or a list inside a binder, has them
        return (json.dumps(data, sort_keys=True, ensure_ascii=False, indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "manifest.json") -> "Manifest":
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise IntegrityError(f"{where}: not valid JSON ({type(exc).__name__})") from None
        if not isinstance(raw, dict):
            raise IntegrityError(f"{where}: not a manifest object")
        version = raw.get("format_version")
        if version not in READABLE_VERSIONS:
            raise IntegrityError(f"{where}: format_version {version!r} is not one this nodkit reads "
                                 f"({', '.join(map(str, READABLE_VERSIONS))})")
        for added, keys in ADDED_IN.items():
            if version < added and any(key in f for f in raw.get("files", []) if isinstance(f, dict) for key in keys):
                raise IntegrityError(f"{where}: format_version {version} with fields of format {added} "
                                     f"({', '.join(keys)})")
        try:
            datasets = {k: DatasetEntry(**v) for k, v in raw.pop("datasets").items()}
            files = [FileEntry(**f) for f in raw.pop("files")]
            manifest = cls(datasets=datasets, files=files, **raw)
        except (TypeError, KeyError, AttributeError) as exc:
            raise IntegrityError(f"{where}: manifest fields do not match the schema ({exc})") from None
        if manifest.status not in STATUSES:
            raise IntegrityError(f"{where}: unknown status {manifest.status!r}")
        return manifest

    def stored(self) -> list[FileEntry]:
        """One entry per file on disk, in manifest order: the entry of the whole file (a binder), not
        the lists that are page ranges of it. What to hash, copy, download or count bytes of."""
        whole: dict[str, FileEntry] = {}
        for entry in self.files:
            held = whole.get(entry.path)
            if held is None or (held.first_page is not None and entry.first_page is None):
                whole[entry.path] = entry
        return list(whole.values())

    def stored_bytes(self) -> int:
        """Bytes of the set's files, each file once."""
        return sum(entry.bytes for entry in self.stored())

    def range_problems(self) -> list[tuple[FileEntry, str]]:
        """(entry, why) for each list inside a binder that does not fit it: no whole-file entry at its
        path, another hash or size than that file, or pages outside the file's page count (as the
        manifest gives it; printing checks the decrypted file's count too)."""
        whole = {e.path: e for e in self.files if e.first_page is None}
        problems = []
        for entry in self.files:
            if entry.first_page is None:
                continue
            binder = whole.get(entry.path)
            if binder is None:
                problems.append((entry, "no entry for the whole file"))
            elif (binder.sha256, binder.bytes) != (entry.sha256, entry.bytes):
                problems.append((entry, "another SHA-256 or size than the file's own entry"))
            elif entry.first_page < 1 or entry.pages < 1 or entry.last_page > binder.pages:
                problems.append((entry, f"pages {entry.first_page}–{entry.last_page} are not inside the file's "
                                        f"{binder.pages} pages"))
        return problems
