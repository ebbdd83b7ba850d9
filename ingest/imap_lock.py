"""One reader per mailbox folder across processes (PostgreSQL advisory lock).

Several `intake run` processes may share one PostgreSQL database; each
mailbox folder must still be read by one of them, or they would race to
acknowledge the same mail. A session-level advisory lock, held on its own
connection for as long as the reader runs, decides; the others wait and take
over when it goes away (the server drops the lock with the connection).
SQLite serves one process, so there it is always ours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker


def lock_key(mailbox: str, folder: str) -> int:
    digest = hashlib.sha256(f"intake:imap:{mailbox}/{folder}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def folder_lock(factory: sessionmaker[Session], mailbox: str, folder: str) -> Iterator[bool]:
    """Yields whether this process may read the folder now."""
    engine = factory.kw.get("bind")
    if engine is None or engine.dialect.name != "postgresql":
        yield True
        return
    key = {"key": lock_key(mailbox, folder)}
    with engine.connect() as connection:
        mine = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), key))
        connection.commit()
        try:
            yield mine
        finally:
            if mine:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                    connection.commit()
                except DBAPIError:
                    connection.invalidate()  # the lock went with the broken connection
