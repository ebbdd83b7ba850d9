"""Database engines and sessions: SQLite (WAL, durable commits) or PostgreSQL from a URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///var/intake.db"


def make_engine(url: str = DEFAULT_URL, durable: bool = True, **kwargs: Any) -> Engine:
    """An engine; `durable=False` is for work that can be redone from stored input.

    Storing input must survive power loss before the source is acknowledged.
    Processing it need not: its results are recomputed from the stored bytes if
    they are lost, so those commits skip the wait for the disk (SQLite
    synchronous=NORMAL in WAL mode, PostgreSQL synchronous_commit=off). Neither
    loses a commit when only the process dies.
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url, durable, **kwargs)
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if not durable:

        @event.listens_for(engine, "connect")
        def _relaxed(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET synchronous_commit = off")
            cursor.close()
            dbapi_connection.commit()

    return engine


def _sqlite_engine(url: str, durable: bool, **kwargs: Any) -> Engine:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level; SQLAlchemy's "begin" below issues
        # BEGIN IMMEDIATE so a transaction that will write takes the write lock
        # up front instead of failing to upgrade a read lock later.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # FULL: a commit survives power loss, which "store before acknowledging" needs.
        cursor.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back if it raises."""
    with factory() as session, session.begin():
        yield session


# PostgreSQL's "try again" errors: a deadlock between two workers touching the same
# incidents (one of them is chosen to fail), a serialization failure, a lock timeout.
# SQLite says "database is locked" when another writer holds its lock.
_TRANSIENT_SQLSTATES = {"40P01", "40001", "55P03"}


def transient(exc: BaseException) -> bool:
    """True for a database error that says "try again": nothing is wrong with the work."""
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in _TRANSIENT_SQLSTATES or "database is locked" in str(exc.orig)
