"""Database engine, sessions and migrations (SQLite by default, PostgreSQL via ``postgresql+psycopg://``)."""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from nlp.errors import CxlensError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: PostgreSQL advisory lock held while migrating (any constant; advisory locks are per database)
MIGRATION_LOCK_KEY = 0x63786C656E73  # "cxlens"


class DatabaseError(CxlensError):
    """The database cannot be reached or migrated."""

    code = "database_unavailable"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys and a generous busy timeout so that the
    request threads and the job worker threads can share one file."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        db = u.database
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if db and db != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    engine = create_engine(url, pool_pre_ping=True)
    if u.get_backend_name() == "postgresql":
        event.listen(engine, "before_cursor_execute", _no_nul_characters, retval=True)
    return engine


def _nul_free(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: _nul_free(v) for k, v in value.items()} if any(isinstance(v, str) and "\x00" in v
                                                                  for v in value.values()) else value
    if isinstance(value, (list, tuple)):
        return type(value)(_nul_free(v) for v in value)
    return value


def _no_nul_characters(conn, cursor, statement, parameters, context, executemany):
    """PostgreSQL text cannot hold NUL (U+0000; SQLite can): user text bound for a text column (an id, a file
    name, an error message quoting a row) gets U+FFFD instead, as undecodable bytes do, rather than failing
    the statement. JSON payloads are unaffected (``json.dumps`` writes ``\\u0000``)."""
    return statement, _nul_free(parameters)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # '%' must be escaped for configparser interpolation
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """``alembic upgrade head`` on ``url`` (creates the SQLite file when needed)."""
    from alembic import command

    try:
        make_engine(url).dispose()  # creates the parent directory of a SQLite file; checks the driver
        command.upgrade(alembic_config(url), revision)  # one at a time per database: migration_lock (env.py)
    except Exception as e:  # noqa: BLE001 - one clear line for the CLI / start-up
        raise DatabaseError(f"cannot migrate the database {make_url(url).render_as_string(hide_password=True)}: "
                            f"{type(e).__name__}: {e}") from e


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, one migration at a time per database (a session advisory lock on a connection of its
    own, taken by ``api/migrations/env.py`` around every online migration): services started together on a
    new database (several hosts, or ``cxlens serve`` next to ``alembic upgrade``) would otherwise create the
    same tables at once and fail or block each other; the later ones wait, then find the schema at head.
    SQLite serialises writers itself."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})


def has_server_clock(bind) -> bool:
    """Whether job leases use the database server's clock (``now()``): PostgreSQL, where workers on several
    machines share one database. SQLite is one machine: the process clock (``now()`` there has whole seconds)."""
    return bind is not None and bind.dialect.name == "postgresql"


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001
        return False


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
