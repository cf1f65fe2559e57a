"""SQL databases through SQLAlchemy: any URL, one query per dataset.

Options (nodkit.toml, [datasets.NAME]):
  url      SQLAlchemy URL, e.g. sqlite:///C:/export/skole.db or
           postgresql+psycopg://nodkit@db/care (put the password in the
           NODKIT_DB_PASSWORD_<DATASET> environment variable or a .pgpass, not here)
  query    a SELECT; its column names are the source columns
  timeout  statement timeout in seconds (default 60)

The connection is read-only where the database supports it (SQLite opened
with mode=ro, PostgreSQL in a READ ONLY transaction). "Data as of" is the
query time.
"""

from __future__ import annotations

import datetime as dt

from ..errors import ConfigError, SourceError
from . import register
from .base import DatasetConfig, Row, Snapshot


def redact(url: str) -> str:
    """URL without password, safe for logs and manifests."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


@register("sql")
class SqlSource:
    def __init__(self, config: DatasetConfig, tz: dt.tzinfo):
        self.config, self.tz = config, tz
        opts = dict(config.options)
        for key in ("url", "query"):
            if key not in opts:
                raise ConfigError(f"{config.where}: dataset '{config.name}': key '{key}' is required for kind sql")
        self.url = str(opts.pop("url"))
        self.query = str(opts.pop("query"))
        self.timeout = float(opts.pop("timeout", 60))
        if opts:
            raise ConfigError(f"{config.where}: dataset '{config.name}': unknown key(s) for kind sql: {', '.join(sorted(opts))}")

    def _engine(self):
        import sqlalchemy as sa
        url = sa.engine.make_url(self.url)
        connect_args: dict = {}
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            # open read-only through a URI so a broken query can never write
            from pathlib import Path
            path = Path(url.database)
            if not path.exists():
                raise SourceError(f"{path}: database file not found (configured at {self.config.where})")
            url = url.set(database=f"file:{path.as_posix()}?mode=ro", query={"uri": "true"})
            connect_args["timeout"] = self.timeout
        elif url.get_backend_name() == "postgresql":
            connect_args["options"] = f"-c statement_timeout={int(self.timeout * 1000)} -c default_transaction_read_only=on"
            connect_args["connect_timeout"] = max(1, int(self.timeout))
        return sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)

    def fetch(self, now: dt.datetime) -> Snapshot:
        import sqlalchemy as sa
        where = redact(self.url)
        try:
            engine = self._engine()
            with engine.connect() as conn:
                as_of = dt.datetime.now(self.tz)
                result = conn.execute(sa.text(self.query))
                columns = list(result.keys())
                shared = {}.setdefault  # one object per distinct value, as in the CSV reader
                rows = [Row(values={c: (shared(v, v) if isinstance(v, str) else v) for c, v in zip(columns, rec)},
                            origin=f"{self.config.name} row {i}")
                        for i, rec in enumerate(result, start=1)]
            engine.dispose()
        except SourceError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", exc)).splitlines()[0] if str(getattr(exc, "orig", exc)) else type(exc).__name__
            raise SourceError(f"{where}: query for dataset '{self.config.name}' failed: {detail}") from None
        return Snapshot(dataset=self.config.name, kind="sql", source=where, as_of=as_of,
                        columns=columns, rows=rows)
