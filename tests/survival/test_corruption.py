"""Corruption: random byte flips in the PDFs, the manifest and the signature must all be detected.

In-process against verify_set for speed (1,000 trials in CI, more with
NODKIT_SURVIVAL_TRIALS); a sample also goes through the real `nodkit verify`
command, which must exit 2 (CRITICAL) and name the damaged file.
"""

from __future__ import annotations

import random
import time

import pytest

from conftest import run_cli
from nodkit.security import crypto
from nodkit.config.settings import load_config
from nodkit.store.sets import MANIFEST, SIGNATURE, Store
from nodkit.monitoring.verify import verify_set

from survival_kit import assert_no_secrets, load_secrets, make_small, record, trials

pytestmark = pytest.mark.survival


def test_every_random_byte_flip_is_detected(demo_kit):
    home = demo_kit.home
    make_small(home)
    first = run_cli("export", "--kit", str(home))
    assert first.exit_code == 0, first.output
    config = load_config(home)
    store = Store(config.store)
    set_id = store.latest_id()
    base = store.sets_dir / set_id
    public = crypto.load_public(config.keys)
    book = crypto.PasswordBook(config.keys)
    clean, _ = verify_set(store.load(set_id), book, public)
    assert clean == []
    targets = sorted(p for p in base.rglob("*") if p.is_file())
    assert {MANIFEST, SIGNATURE} <= {p.name for p in targets} and any(p.suffix == ".pdf" for p in targets)
    n = trials(1000)
    rng = random.Random(1009)
    undetected: list[str] = []
    by_file: dict[str, int] = {}
    kinds: dict[str, int] = {}
    cli_checks = 0
    started = time.monotonic()
    for i in range(n):
        # a third of the trials each on PDFs, the manifest and the signature
        kind = ("pdf", "manifest", "signature")[i % 3]
        if kind == "pdf":
            path = rng.choice([p for p in targets if p.suffix == ".pdf"])
        else:
            path = base / (MANIFEST if kind == "manifest" else SIGNATURE)
        original = path.read_bytes()
        offset = rng.randrange(len(original))
        mask = rng.randrange(1, 256)
        damaged = bytearray(original)
        damaged[offset] ^= mask
        path.write_bytes(bytes(damaged))
        try:
            problems, _ = verify_set(store.load(set_id), book, public, decrypt=False)
            if not problems:
                undetected.append(f"{path.relative_to(base)} byte {offset} ^ {mask:#04x}")
            else:
                kinds[problems[0].kind] = kinds.get(problems[0].kind, 0) + 1
            if i % 100 == 0:  # now and then through the real command as well
                result = run_cli("verify", "--kit", str(home))
                assert result.exit_code == 2, result.output
                assert result.stdout.startswith("NODKIT CRITICAL")
                cli_checks += 1
        finally:
            path.write_bytes(original)
        by_file[kind] = by_file.get(kind, 0) + 1
    seconds = time.monotonic() - started
    assert not undetected, f"{len(undetected)} of {n} flips not detected: {undetected[:10]}"
    assert verify_set(store.load(set_id), book, public)[0] == []  # restored intact
    assert_no_secrets(home, load_secrets(demo_kit.sources, home, demo_kit.passwords))
    record("corruption", trials=n, detected=n - len(undetected), by_target=by_file, first_problem=kinds,
           cli_checks=cli_checks, seconds=round(seconds, 1))


def test_every_single_byte_change_of_the_signature_file_is_detected(demo_kit):
    """Exhaustive: each byte of manifest.sig replaced by each other value (about 22,000 variants).

    Catches encodings that decode equal despite a change (trailing whitespace,
    non-canonical base64 padding bits), which random sampling rarely hits.
    """
    config = load_config(demo_kit.home)
    store = Store(config.store)
    base = store.sets_dir / store.latest_id()
    data = (base / MANIFEST).read_bytes()
    signature = (base / SIGNATURE).read_bytes()
    public = crypto.load_public(config.keys)
    assert crypto.check_signature(public, data, signature)
    accepted = []
    variants = 0
    for offset in range(len(signature)):
        for value in range(256):
            if value == signature[offset]:
                continue
            changed = signature[:offset] + bytes([value]) + signature[offset + 1:]
            variants += 1
            if crypto.check_signature(public, data, changed):
                accepted.append((offset, value))
    assert not accepted, f"{len(accepted)} changed signature files still accepted, e.g. {accepted[:5]}"
    record("signature_exhaustive", variants=variants, detected=variants - len(accepted))
