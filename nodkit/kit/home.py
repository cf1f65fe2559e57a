"""The kit home: finding it, and creating a new one (`nodkit init`).

A kit home is one folder on the PC (DESIGN.md): nodkit.toml, keys/ (signing
key pair, audience passwords; 0700/0600), store/, logs/, and optional site
templates/ and schedules/ that override the built-ins. With a staff group
(`[kit] staff_group`) the CLI then shares it with the group
(nodkit.security.access.set_up).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from nodkit.security import crypto
from nodkit.config import tomlfile
from nodkit.config.settings import CONFIG_NAME, KitConfig, load_config
from nodkit.errors import ConfigError
from nodkit.fsutil import private_dir, secret_dir, write_atomic
from nodkit.security import access

DEFAULT_AUDIENCES = {
    "pleje": ("Hjemmeplejen", ["care-route", "medication", "citizens", "power-dependent", "staff", "contacts"]),
    "skole": ("Skoler", ["class-list", "pickup", "attendance", "contacts"]),
}


def resolve_home(explicit: str | os.PathLike | None) -> Path:
    """--kit DIR, else $NODKIT_HOME, else the current directory."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("NODKIT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return Path.cwd().resolve()


_toml_str = tomlfile.quote


def config_text(name: str, datasets: str = "", audiences: dict | None = None,
                location: str | None = None, contact: str | None = None, staff_group: str | None = None) -> str:
    """A commented nodkit.toml. `datasets` is TOML text for [datasets.*] tables."""
    where = (f"location = {_toml_str(location)}" if location else
             '# location = "Rådhuset, kælderen, rum K12"') + "   # printed on the printing guide"
    who = (f"contact = {_toml_str(contact)}" if contact else
           '# contact = "IT-vagten, tlf. 76 16 10 00"') + "   # whom to call when printing fails"
    audiences = audiences or DEFAULT_AUDIENCES
    aud = "\n".join(
        f'[audiences.{key}]\ntitle = "{title}"\ntemplates = [{", ".join(f"{t!r}".replace(chr(39), chr(34)) for t in tpls)}]\n'
        for key, (title, tpls) in audiences.items())
    return f'''# nodkit.toml — configuration of this emergency list PC.
# Reference: docs/configuration.md. Check it with: nodkit sources check

[kit]
name = {_toml_str(name)}                 # printed on every page
{where}
{who}
{access.config_lines(staff_group)}timezone = "Europe/Copenhagen"
max_age_hours = 26              # verify is CRITICAL when the newest good lists are older

[retention]
hours = 24                      # every set of the last 24 hours is kept ...
days = 7                        # ... then the last good set of each day for 7 days; older sets are deleted ...
keep_min = 3                    # ... but never the newest 3 good sets

[export]
suspect_drop = 0.5              # rows falling more than 50 % vs the last good set => suspect set

# Who gets which lists. Each audience has its own password (nodkit password set NAME);
# files are written to store/sets/<set>/<audience>/<unit>/<list>.pdf
{aud}
# Where the data comes from. One table per dataset; 'columns' maps the list's
# field names (left) to the column names in the export (right).
{datasets or EXAMPLE_DATASETS}'''


EXAMPLE_DATASETS = '''# [datasets.visits]
# kind = "csv"
# path = "/mnt/omsorg/noedrapport/besoeg_*.csv"   # newest matching file is used
# encoding = "auto"                               # or "cp1252", "utf-8"
# delimiter = "auto"                              # or ";"
# [datasets.visits.columns]
# area = "Område"
# citizen = "Borger"
#
# [datasets.pupils]
# kind = "sql"
# url = "sqlite:///C:/export/skole.db"
# query = "SELECT * FROM elever"
'''


def init_kit(home: Path, passwords: dict[str, str], *, name: str = "Nødliste-pc",
             config: str | None = None, now: dt.datetime | None = None,
             staff_group: str | None = None) -> KitConfig:
    """Create a kit home. Refuses to overwrite an existing one. `staff_group` goes into the generated
    nodkit.toml (sharing the home with it is `access.set_up`, which needs the group to exist)."""
    if (home / CONFIG_NAME).exists():
        raise ConfigError(f"{home / CONFIG_NAME}: a kit already exists here; refusing to overwrite it")
    private_dir(home)
    for sub in ("store", "logs", "templates", "schedules"):
        private_dir(home / sub)
    secret_dir(home / "keys")
    write_atomic(home / CONFIG_NAME, (config or config_text(name, staff_group=staff_group)).encode("utf-8"))
    os.chmod(home / CONFIG_NAME, 0o600)
    crypto.generate_signing_key(home / "keys")
    cfg = load_config(home)
    book = crypto.PasswordBook(home / "keys")
    now = now or cfg.now()
    for audience in cfg.audiences:
        if audience not in passwords:
            raise ConfigError(f"no password given for audience '{audience}'")
        book.set(audience, passwords[audience], now)
    return cfg
