"""One poller per source across processes: the PostgreSQL advisory lock behind the standby."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from core.db import make_engine, session_factory
from ingest.imap_lock import folder_lock
from ingest.poller_lock import PollerLock


def test_a_second_poller_stands_by_until_the_first_lets_go(postgres_db_url: str) -> None:
    first_engine, second_engine = make_engine(postgres_db_url), make_engine(postgres_db_url)
    first = PollerLock(session_factory(first_engine), "telegram:42")
    second = PollerLock(session_factory(second_engine), "telegram:42")
    other_bot = PollerLock(session_factory(second_engine), "telegram:43")
    try:
        assert first.held()
        assert first.held()  # still ours on the next look
        assert not second.held()
        assert other_bot.held()  # another bot is another lock
        first.release()
        assert second.held()
        assert not first.held()
    finally:
        for lock in (first, second, other_bot):
            lock.release()
        first_engine.dispose()
        second_engine.dispose()


def test_a_dead_holder_frees_the_lock_and_a_broken_connection_is_noticed(
    postgres_db_url: str,
) -> None:
    engine = make_engine(postgres_db_url)
    holder = PollerLock(session_factory(engine), "imap:incidents/INBOX")
    standby = PollerLock(session_factory(engine), "imap:incidents/INBOX")
    try:
        assert holder.held()
        assert not standby.held()
        with engine.connect() as admin:  # what a SIGKILL or a database restart does to it
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d "
                    "ON d.oid = l.database WHERE l.locktype = 'advisory' "
                    "AND d.datname = current_database() AND l.pid <> pg_backend_pid()"
                )
            )
        assert standby.held()  # the server dropped the lock with the connection
        assert not holder.held()  # and the old holder knows it is no longer the poller
    finally:
        holder.release()
        standby.release()
        engine.dispose()


def test_the_imap_folder_lock_is_the_same_lock(postgres_db_url: str) -> None:
    engine = make_engine(postgres_db_url)
    factory = session_factory(engine)
    try:
        with folder_lock(factory, "incidents", "INBOX") as mine:
            assert mine
            assert not PollerLock(factory, "imap:incidents/INBOX").held()
            with folder_lock(factory, "incidents", "Archive") as other_folder:
                assert other_folder
        after = PollerLock(factory, "imap:incidents/INBOX")
        assert after.held()  # the folder lock let go when its block ended
        after.release()
    finally:
        engine.dispose()


def test_on_sqlite_the_only_process_always_polls(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/intake.db")
    try:
        assert PollerLock(session_factory(engine), "telegram:42").held()
        assert PollerLock(session_factory(engine), "telegram:42").held()
    finally:
        engine.dispose()
