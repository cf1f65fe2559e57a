"""SQL databases through SQLAlchemy: any URL, one query per dataset.

Options (nodkit.toml, [datasets.NAME]):
  url           SQLAlchemy URL, e.g. sqlite:///C:/export/skole.db (a relative
                sqlite path is relative to the kit home) or
                postgresql+psycopg://nodkit@127.0.0.1:5432/care
  query         one SELECT; its column names are the source columns
  timeout       statement timeout in seconds (default 60)
  password_env  name of the environment variable holding the password
                (default NODKIT_DB_PASSWORD_<DATASET>, upper case, - as _)
  max_age_hours accepted for symmetry with files; a query is always fresh

Never put a password in nodkit.toml: set the environment variable (or use
PostgreSQL's .pgpass / PGPASSWORD). URLs are redacted (password shown as ***)
in every message, log line and manifest.

Rules kept here:
- Read-only: SQLite is opened with mode=ro (the file must exist; a missing
  file is an error, not a new empty database); PostgreSQL sessions run with
  default_transaction_read_only and the transaction is SET READ ONLY.
  Other databases: use a database user that can only read.
- A statement timeout: PostgreSQL statement_timeout; SQLite a progress
  handler that interrupts the query; other drivers get the connect timeout.
- "Data as of" is the query time.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time

from nodkit.errors import SourceError
from nodkit.sources import register
from nodkit.sources.base import DatasetConfig, Row, Snapshot


def redact(url: str) -> str:
    """URL without password, safe for logs and manifests."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"//[^@/]*@", "//***@", url)


def password_env_name(dataset: str) -> str:
    return "NODKIT_DB_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", dataset.upper())


@register("sql")
class SqlSource:
    def __init__(self, config: DatasetConfig, tz: dt.tzinfo):
        self.config, self.tz = config, tz
        opts = config.options_for("url", "query")
        self.url = str(opts.pop("url"))
        self.query = str(opts.pop("query"))
        timeout = opts.pop("timeout", 60)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise config.error("timeout must be a number of seconds above 0")
        self.timeout = float(timeout)
        self.password_env = str(opts.pop("password_env", password_env_name(config.name)))
        opts.pop("max_age_hours", None)
        config.reject_unknown(opts)
        try:
            import sqlalchemy as sa
            parsed = sa.engine.make_url(self.url)
        except Exception:
            raise config.error("url is not a valid SQLAlchemy URL "
                               "(e.g. sqlite:///skole.db or postgresql+psycopg://user@host/db)") from None
        if parsed.password:
            raise config.error("do not put the password in the url; "
                               f"set the environment variable {self.password_env} instead")

    def _engine(self, deadline: list[float]):
        import sqlalchemy as sa
        url = sa.engine.make_url(self.url)
        password = os.environ.get(self.password_env)
        if password:
            url = url.set(password=password)
        connect_args: dict = {}
        backend = url.get_backend_name()
        if backend == "sqlite" and url.database and url.database != ":memory:":
            # open read-only through a URI so a broken query can never write, nor create a file
            from pathlib import Path
            path = Path(url.database)
            if not path.is_file():
                raise SourceError(f"{path}: database file not found (configured at {self.config.where})")
            url = url.set(database=f"file:{path.as_posix()}?mode=ro", query={"uri": "true"})
            connect_args["timeout"] = self.timeout
        elif backend == "postgresql":
            connect_args["options"] = (f"-c statement_timeout={int(self.timeout * 1000)} "
                                       "-c default_transaction_read_only=on")
            connect_args["connect_timeout"] = max(1, int(min(self.timeout, 30)))
        engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
        if backend == "sqlite":
            @sa.event.listens_for(engine, "connect")
            def _interrupt_after_deadline(dbapi_conn, _record):
                dbapi_conn.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), 10_000)
        return engine

    def fetch(self, now: dt.datetime) -> Snapshot:
        import sqlalchemy as sa
        where = redact(self.url)
        deadline = [time.monotonic() + self.timeout]
        try:
            engine = self._engine(deadline)
            try:
                with engine.connect() as conn:
                    if engine.dialect.name == "postgresql":
                        conn.execute(sa.text("SET TRANSACTION READ ONLY"))
                    as_of = dt.datetime.now(self.tz).replace(microsecond=0)  # as the manifest records it
                    deadline[0] = time.monotonic() + self.timeout
                    result = conn.execute(sa.text(self.query))
                    if not result.returns_rows:
                        raise SourceError(f"{where}: the query for dataset '{self.config.name}' returns no rows "
                                          f"(use a SELECT; configured at {self.config.where})")
                    columns = [str(c) for c in result.keys()]
                    shared = {}.setdefault  # one object per distinct value, as in the CSV reader
                    names = {c: i for i, c in enumerate(columns)}  # a repeated name: the last one
                    rows = [Row(tuple(shared(v, v) if isinstance(v, str) else v for v in rec), names,
                                f"{self.config.name} row {i}")
                            for i, rec in enumerate(result, start=1)]
            finally:
                engine.dispose()
        except SourceError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            raise SourceError(f"{where}: query for dataset '{self.config.name}' failed: {self._explain(exc)}") from None
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        warnings = [f"query returns the column name(s) {', '.join(duplicates)} more than once; the last one is used"] \
            if duplicates else []
        return Snapshot(dataset=self.config.name, kind="sql", source=where, as_of=as_of,
                        columns=list(dict.fromkeys(columns)), rows=rows, warnings=warnings)

    def _explain(self, exc: Exception) -> str:
        orig = getattr(exc, "orig", None) or exc
        text = str(orig).strip()
        first = text.splitlines()[0] if text else type(orig).__name__
        sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
        if sqlstate == "57014" or first == "interrupted":
            return f"the query ran longer than the timeout of {self.timeout:g} s (option timeout) and was stopped"
        if sqlstate == "25006" or "readonly database" in first or "read-only transaction" in first:
            return f"the query tried to write; nodkit opens sources read-only ({first})"
        # never echo a password the driver may have put in its message
        password = os.environ.get(self.password_env)
        if password:
            first = first.replace(password, "***")
        if "password" in first.lower() and not password:
            first += (f"; set the environment variable {self.password_env} to the database password "
                      "(in the environment of the scheduled job)")
        return first
