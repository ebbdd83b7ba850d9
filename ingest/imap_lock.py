"""One reader per mailbox folder across processes (see ingest.poller_lock).

Several `intake run` processes may share one PostgreSQL database; each
mailbox folder must still be read by one of them, or they would race to
acknowledge the same mail. The others wait and take over when it goes away.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from ingest import poller_lock


def lock_name(mailbox: str, folder: str) -> str:
    return f"imap:{mailbox}/{folder}"


def lock_key(mailbox: str, folder: str) -> int:
    return poller_lock.lock_key(lock_name(mailbox, folder))


@contextmanager
def folder_lock(factory: sessionmaker[Session], mailbox: str, folder: str) -> Iterator[bool]:
    """Yields whether this process may read the folder now."""
    with poller_lock.poller_lock(factory, lock_name(mailbox, folder)) as mine:
        yield mine
