"""Group commit: webhook requests store their raw messages in shared durable commits.

Each request waits until the transaction holding its message has committed
durably (SQLite synchronous=FULL, PostgreSQL synchronous_commit on), and only
then answers 2xx. Under load many requests share one commit and one fsync,
which is what lets a single process take thousands of signed alerts a second
without weakening "store before acknowledging".

Where the commit runs depends on the database:
- SQLite: on the event loop itself, once per loop iteration for every request
  that reached its store call in that iteration. A commit is a few hundred
  microseconds of C with one fsync; handing it to a thread instead made the
  loop and that thread fight over the GIL, which cost more than the commit
  (measured: 1,700 vs 4,000+ alerts/s). It never waits on the loop: when another
  writer holds the database (the pipeline's turn, another process), the batch
  goes to the writer thread, which waits its turn.
- PostgreSQL: on the writer thread, whose waits on the network let go of the GIL.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.db import transaction, transient
from core.models import PENDING, RawMessage, now, table
from core.store import Stored
from core.web.wal_checkpoint import BackgroundCheckpoint
from core.worker import turns_for

log = logging.getLogger(__name__)
MAX_BATCH = 500


@dataclass(frozen=True)
class Incoming:
    """A raw message as a route received it, before it is stored."""

    source: str
    natural_key: str
    body: bytes
    meta: dict[str, Any] = field(default_factory=dict)
    status: str = PENDING


_Job = tuple[Sequence[Incoming], asyncio.AbstractEventLoop, "asyncio.Future[list[Stored]]"]


class _Busy(Exception):
    """Someone else is writing to SQLite right now; the loop must not wait for them."""


class RawWriter:
    """Stores queued raw messages in batches, one durable commit per batch."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        on_stored: Callable[[], None],
        checkpoint: BackgroundCheckpoint | None = None,
    ) -> None:
        self._factory = factory
        self._turns = turns_for(factory)
        self._on_stored = on_stored
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        engine = factory.kw["bind"]
        self._on_loop = engine.dialect.name == "sqlite"
        self._pending: list[_Job] = []
        self._flusher: asyncio.Task[None] | None = None  # held: the loop keeps weak refs
        self._loop_connection: Connection | None = None
        self._restart_due = False
        # What only the loop's writer (SQLite) uses: its commit thread and checkpoints.
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="raw-commit")
        self._checkpoint = checkpoint or BackgroundCheckpoint(engine)

    async def store(self, items: Sequence[Incoming]) -> list[Stored]:
        """Store `items` (all in one transaction) and return once that is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Stored]] = loop.create_future()
        job = (items, loop, future)
        if self._on_loop:
            self._pending.append(job)
            if self._flusher is None or self._flusher.done():  # next iteration: all ready join
                self._flusher = loop.create_task(self._flush_all())
        else:
            self._to_thread(job)
        return await future

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        self._drop_loop_connection()  # never back to the pool: its pragmas are the loop's own
        self._committer.shutdown(wait=True)
        self._checkpoint.close()

    # --- on the event loop (SQLite) -------------------------------------------------

    async def _flush_all(self) -> None:
        """Store what is pending; what arrives during a commit forms the next batch."""
        while self._pending:
            jobs, self._pending = self._pending, []
            await self._flush(jobs)

    async def _flush(self, jobs: list[_Job]) -> None:
        items = [item for part, _, _ in jobs for item in part]
        try:
            results = await self._write_now(items)
        except _Busy:
            for job in jobs:  # the thread waits for its turn; the loop goes on serving
                self._to_thread(job)
            return
        except Exception:
            log.exception("storing raw messages on the event loop failed; retrying each alone")
            self._drop_loop_connection()
            for job in jobs:
                self._to_thread(job)
            return
        self._on_stored()
        for (_, _, future), stored in zip(jobs, _split(jobs, results), strict=True):
            if not future.done():  # the client may have gone
                future.set_result(stored)
        if self._restart_due:  # answered first; the next batch waits for it
            await self._restart_wal()

    async def _restart_wal(self) -> None:
        turn = self._turns.intake_if_free() if self._turns else nullcontext(True)
        with turn as mine:
            if not mine or self._loop_connection is None:
                return  # someone is writing: the next batch asks again
            driver = self._loop_connection.connection.driver_connection
            loop = asyncio.get_running_loop()
            try:
                done = await loop.run_in_executor(self._committer, self._checkpoint.restart, driver)
                self._restart_due = not done
            except Exception:
                log.exception("WAL checkpoint (RESTART) failed; retrying after the next batch")

    async def _write_now(self, items: list[Incoming]) -> list[Stored]:
        """Insert on the loop (little work), commit on a thread (the fsync lets go of the GIL)."""
        turn = self._turns.intake_if_free() if self._turns else nullcontext(True)
        with turn as mine:
            if not mine:
                raise _Busy
            connection = self._connection()
            try:
                transaction = connection.begin()
            except OperationalError as exc:
                if transient(exc):  # another writer holds SQLite's lock
                    raise _Busy from exc
                raise
            try:
                stored = store_many_sqlite(connection, items)
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._committer, transaction.commit)
                self._restart_due = self._checkpoint.stored(len(items))
            except BaseException:
                if transaction.is_active:
                    transaction.rollback()
                raise
            return stored

    def _connection(self) -> Connection:
        if self._loop_connection is None:
            connection = self._factory.kw["bind"].connect()
            # Never wait for SQLite's lock on the loop: fail at once and let the thread wait.
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA busy_timeout=0")  # at the driver: no transaction begun
            driver.execute("PRAGMA wal_autocheckpoint=0")  # see core.web.wal_checkpoint
            self._loop_connection = connection
        return self._loop_connection

    def _drop_loop_connection(self) -> None:
        if self._loop_connection is not None:
            self._loop_connection.invalidate()
            self._loop_connection = None

    # --- on the writer thread (PostgreSQL, or SQLite when the loop would wait) ------

    def _to_thread(self, job: _Job) -> None:
        self._ensure_started()
        self._queue.put(job)

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="raw-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            count = len(first[0])
            while count < MAX_BATCH:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                jobs.append(job)
                count += len(job[0])
            self._commit(jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            with (
                self._turns.intake() if self._turns else nullcontext(),
                transaction(self._factory) as session,
            ):
                items = [item for part, _, _ in jobs for item in part]
                stored = store_many(session.connection(), items)
        except Exception:
            if len(jobs) > 1:  # one bad request must not fail the others: retry them alone
                for job in jobs:
                    self._commit([job])
                return
            log.exception("storing a raw message failed")
            _, loop, future = jobs[0]
            loop.call_soon_threadsafe(_fail, future)
            return
        self._on_stored()
        # One wake-up per event loop for the whole batch, not one per request.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, list[Stored]]]] = {}
        for (_, loop, future), part in zip(jobs, _split(jobs, stored), strict=True):
            by_loop.setdefault(loop, []).append((future, part))
        for loop, answers in by_loop.items():
            loop.call_soon_threadsafe(_succeed_all, answers)


def _split(jobs: list[_Job], stored: list[Stored]) -> list[list[Stored]]:
    """Each request's own part of a batch's results, in order."""
    parts, start = [], 0
    for items, _, _ in jobs:
        parts.append(stored[start : start + len(items)])
        start += len(items)
    return parts


_TABLE = table(RawMessage)
# store_raw's statement, run once for many rows: ON CONFLICT DO NOTHING leaves out
# what is already stored, and RETURNING says which keys were new.
_INSERT_MANY = {
    name: dialect.insert(_TABLE)
    .on_conflict_do_nothing(index_elements=["source", "natural_key"])
    .returning(_TABLE.c.id, _TABLE.c.source, _TABLE.c.natural_key)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def store_many(connection: Connection, items: Sequence[Incoming]) -> list[Stored]:
    """`store_raw` for several messages in a few statements: idempotent by natural key."""
    at = now()
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for i in items:  # the same input twice in one batch is one row
        rows.setdefault(
            (i.source, i.natural_key),
            {
                "source": i.source,
                "natural_key": i.natural_key,
                "content_key": None,
                "body": i.body,
                "meta": i.meta,
                "status": i.status,
                "attempts": 0,
                "received_at": at,
            },
        )
    inserted = connection.execute(_INSERT_MANY[connection.dialect.name], list(rows.values()))
    new = {(source, key): row_id for row_id, source, key in inserted}
    old: dict[tuple[str, str], int] = {}
    missing = [k for k in rows if k not in new]
    for source in {s for s, _ in missing}:
        keys = [k for s, k in missing if s == source]
        found = connection.execute(
            select(_TABLE.c.id, _TABLE.c.natural_key).where(
                _TABLE.c.source == source, _TABLE.c.natural_key.in_(keys)
            )
        )
        old.update({(source, key): row_id for row_id, key in found})
    stored = []
    seen: set[tuple[str, str]] = set()
    for i in items:
        key = (i.source, i.natural_key)
        stored.append(Stored(new.get(key) or old[key], created=key in new and key not in seen))
        seen.add(key)
    return stored


class StoreFailed(Exception):
    """The database refused the batch; the client gets 503 and retries."""


def _succeed_all(answers: list[tuple[asyncio.Future[list[Stored]], list[Stored]]]) -> None:
    for future, stored in answers:
        if not future.done():  # the request may have been cancelled (client gone)
            future.set_result(stored)


def _fail(future: asyncio.Future[list[Stored]]) -> None:
    if not future.done():
        future.set_exception(StoreFailed("the database did not store the message"))


_INSERT_ONE_SQLITE = (
    "INSERT INTO raw_messages (source, natural_key, content_key, received_at, body, meta,"
    " status, attempts) VALUES (?, ?, NULL, ?, ?, ?, ?, 0)"
    " ON CONFLICT (source, natural_key) DO NOTHING RETURNING id"
)
_SAME_KEY_SQLITE = "SELECT id FROM raw_messages WHERE source = ? AND natural_key = ?"


def store_many_sqlite(connection: Connection, items: Sequence[Incoming]) -> list[Stored]:
    """`store_many` for SQLite, straight to the driver: one prepared statement per row.

    It runs on the event loop for every webhook request, where SQLAlchemy's
    per-batch machinery cost more than the inserts; the values are converted
    by the columns' own types, so the rows are what the ORM would have written.
    """
    dialect = connection.dialect
    at = _TABLE.c.received_at.type.bind_processor(dialect)(now())  # type: ignore[misc]
    to_json = _TABLE.c.meta.type.bind_processor(dialect)
    assert to_json is not None
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    stored = []
    try:
        for i in items:
            cursor.execute(
                _INSERT_ONE_SQLITE,
                (i.source, i.natural_key, at, i.body, to_json(i.meta), i.status),
            )
            row = cursor.fetchone()
            if row is not None:
                stored.append(Stored(row[0], created=True))
                continue
            cursor.execute(_SAME_KEY_SQLITE, (i.source, i.natural_key))
            stored.append(Stored(cursor.fetchone()[0], created=False))
    finally:
        cursor.close()
    return stored
