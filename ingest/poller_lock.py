"""One active poller per source across processes (a PostgreSQL session advisory lock).

Several `intake run` processes may share one PostgreSQL database, but a
source that is pulled (a mailbox folder, Telegram's getUpdates) must be read
by one of them at a time: two IMAP readers race to acknowledge the same mail,
and two getUpdates callers confirm each other's offsets. The first process to
take the lock reads; the others stand by, try again every few seconds, and
take over when it goes away: the server drops a session lock with its
connection, so a killed process frees it at once.

The lock lives on a connection of its own, held for as long as the poller
runs. If that connection breaks (a database restart), the lock may have gone
with it: `PollerLock.held` notices and the poller stands by again rather than
read beside a new holder. SQLite serves one process, so there it is always ours.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("intake.poller")
_TRY = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


def lock_key(name: str) -> int:
    """A signed 64-bit key for `name` (pg_try_advisory_lock takes a bigint)."""
    digest = hashlib.sha256(f"intake:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PollerLock:
    """Try, hold and release the lock named `name` for this process."""

    def __init__(self, factory: sessionmaker[Session], name: str) -> None:
        self.name = name
        self.key = {"key": lock_key(name)}
        engine = factory.kw.get("bind")
        self.engine = engine if engine is not None and engine.dialect.name == "postgresql" else None
        self._connection: Connection | None = None

    def held(self) -> bool:
        """Whether this process may poll now: keeps the lock if held, else tries to take it."""
        if self.engine is None:
            return True
        if self._connection is not None:
            try:  # a live session still holds its session-level locks
                self._connection.execute(text("SELECT 1"))
                self._connection.commit()
                return True
            except DBAPIError:
                log.warning("%s: lost the database connection holding the lock", self.name)
                self._drop()
        connection = self.engine.connect()
        try:
            mine = bool(connection.scalar(_TRY, self.key))
            connection.commit()
        except BaseException:
            connection.invalidate()
            connection.close()
            raise
        if not mine:
            connection.close()
            return False
        self._connection = connection
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(_UNLOCK, self.key)
            self._connection.commit()
        except DBAPIError:
            self._connection.invalidate()  # the lock went with the broken connection
        finally:
            self._connection.close()
            self._connection = None

    def _drop(self) -> None:
        broken, self._connection = self._connection, None
        if broken is not None:
            with contextlib.suppress(DBAPIError):
                broken.invalidate()
                broken.close()


@contextmanager
def poller_lock(factory: sessionmaker[Session], name: str) -> Iterator[bool]:
    """Yields whether this process may poll `name` now; lets go when the block ends."""
    lock = PollerLock(factory, name)
    try:
        yield lock.held()
    finally:
        lock.release()
