"""`nodkit station init`: a print station kit home, fed by an exporter.

A station holds no datasets, no source credentials and no audience
passwords. Its keys/ has the exporter's public signing key (pinned here,
once: `verify`, printing and sync all check sets against it) and the
station's own key pair, which signs only its status report for the fleet
view. Its schedule syncs every 15 minutes and verifies hourly.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from nodkit.config import tomlfile
from nodkit.config.settings import CONFIG_NAME, KitConfig, load_config
from nodkit.errors import ConfigError
from nodkit.fsutil import private_dir, secret_dir, write_atomic
from nodkit.security import access, crypto

STATION_KEY, STATION_PUB = "station.key", "station.pub"

SCHEDULE = '''# Station schedule: sync from the exporter every 15 minutes, verify hourly.
# Times are in the kit's timezone. A file with the same name replaces the built-in one.
format_version = 1

[[jobs]]
id = "sync"
action = "sync"
cron = "*/15 * * * *"

[[jobs]]
id = "verify-hourly"
action = "verify"
cron = "17 * * * *"
'''


_toml_str = tomlfile.quote


def _toml_list(items) -> str:
    return "[" + ", ".join(_toml_str(i) for i in items) + "]"


def station_config_text(name: str, upstream: str, audiences: list[str], units: list[str], *,
                        ca_bundle: str | None = None, status_upload: str | None = None,
                        staff_group: str | None = None) -> str:
    ca = f"ca_bundle = {_toml_str(ca_bundle)}" if ca_bundle else '# ca_bundle = "/etc/ssl/kommune-ca.pem"'
    upload = (f"status_upload = {_toml_str(status_upload)}" if status_upload else
              '# status_upload = "https://nodkit.kommune.dk/fleet/"   # HTTP PUT of the signed status, or a share folder')
    return f'''# nodkit.toml — a print station: its lists come signed from the exporter.
# Reference: docs/configuration.md and docs/distribution.md.

[kit]
name = {_toml_str(name)}
timezone = "Europe/Copenhagen"
max_age_hours = 26              # verify is CRITICAL and the menu warns when the newest lists are older
{access.config_lines(staff_group)}
[retention]
days = 7
keep_min = 3

[station]
upstream = {_toml_str(upstream)}   # the exporter's store/, served read-only (https://…/ or a share folder)
audiences = {_toml_list(audiences)}
units = {_toml_list(units)}            # empty: every unit of these audiences
{ca}
{upload}
# client_cert = "keys/client.pem"      # mutual TLS; client_key = "keys/client.key" (0600)
# credentials_file = "keys/upstream.auth"   # "user:password" for basic auth (0600),
#                                           # or NODKIT_UPSTREAM_USER / NODKIT_UPSTREAM_PASSWORD
timeout_seconds = 30
sync_deadline_seconds = 900

[printer]
backend = "cups"
# queue = "Nødprinter"
'''


def fingerprint(pem: bytes) -> str:
    """SHA-256 of the PEM public key, for IT to compare by phone with the exporter's."""
    return hashlib.sha256(pem).hexdigest()[:32]


def init_station(home: Path, *, upstream: str, pubkey: Path, audiences: list[str], units: list[str],
                 name: str, ca_bundle: str | None = None, status_upload: str | None = None,
                 staff_group: str | None = None) -> KitConfig:
    """Create a station kit home. Refuses to overwrite an existing kit."""
    if (home / CONFIG_NAME).exists():
        raise ConfigError(f"{home / CONFIG_NAME}: a kit already exists here; refusing to overwrite it")
    try:
        pem = pubkey.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{pubkey}: cannot read the exporter's public key: {exc.strerror}") from None
    crypto.public_from_pem(pem, str(pubkey))  # an Ed25519 public key, or refuse now
    if b"PRIVATE" in pem:
        raise ConfigError(f"{pubkey}: this is a private key; a station gets only the exporter's signing.pub")
    private_dir(home)
    for sub in ("store", "logs", "schedules"):
        private_dir(home / sub)
    secret_dir(home / "keys")
    write_atomic(home / CONFIG_NAME, station_config_text(name, upstream, audiences, units, ca_bundle=ca_bundle,
                                                         status_upload=status_upload,
                                                         staff_group=staff_group).encode("utf-8"))
    os.chmod(home / CONFIG_NAME, 0o600)
    write_atomic(home / "keys" / crypto.PUBLIC_KEY, pem, crypto.PUBLIC_MODE)
    crypto.generate_signing_key(home / "keys", STATION_KEY, STATION_PUB)
    write_atomic(home / "schedules" / "default.toml", SCHEDULE.encode("utf-8"))
    return load_config(home)
