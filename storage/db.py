"""Engine, sessions and migrations. The one place that knows how to reach the database."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


class _NoRows(logging.Filter):
    """SQLAlchemy logs every result row once its logger is at DEBUG (as `log.level = "DEBUG"`
    makes it); rows hold email content, which never goes to a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "Row %r"


logging.getLogger("sqlalchemy.engine.Engine").addFilter(_NoRows())


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, *, schema: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``; ``schema`` puts every table in one PostgreSQL schema (tests).

    Bound values stay out of SQL logging and out of error messages (which get logged): they
    are email content."""
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 10}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True, **kwargs)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to ``revision``."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


class Database:
    """Owns the engine and hands out sessions, one per unit of work."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, schema=schema)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def upgrade(self) -> None:
        upgrade(self.engine)

    def ensure_current(self, *, upgrade_sqlite: bool) -> None:
        """Bring a SQLite file up to date (when asked); refuse any other database that is
        behind the code, with SchemaBehind (it is upgraded on purpose, by one command)."""
        if upgrade_sqlite and self.is_sqlite:
            self.upgrade()
        elif pending_migrations(self.engine):
            raise SchemaBehind(UPGRADE_FIRST)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back on any error."""
        with self._sessions() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()


UPGRADE_FIRST = "The database needs upgrading first. Run: dutybot db upgrade --config FILE"


class SchemaBehind(Exception):
    """The database lacks migrations the code has; the message says what to run."""


@functools.cache
def newest_migration() -> str | None:
    """The code's newest migration (reading the scripts costs ~20 ms: once per process)."""
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def schema_current(conn: Connection) -> bool:
    """True when the database has every migration the code has."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision() == newest_migration()


def pending_migrations(engine: Engine) -> bool:
    """True when the database is behind the code's newest migration."""
    with engine.connect() as conn:
        return not schema_current(conn)
