"""Group commit: webhook requests hand their raw messages to one writer thread.

Each request waits until the transaction holding its message has committed
durably (SQLite synchronous=FULL, PostgreSQL synchronous_commit on), and only
then answers 2xx. Under load many requests share one commit and one fsync,
which is what lets a single process take thousands of signed alerts a second
without weakening "store before acknowledging".
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from core.db import transaction
from core.models import PENDING, RawMessage, now, table
from core.store import Stored, store_raw
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


class RawWriter:
    """One thread that stores queued raw messages in batches, one durable commit per batch."""

    def __init__(self, factory: sessionmaker[Session], on_stored: Callable[[], None]) -> None:
        self._factory = factory
        self._turns = turns_for(factory)
        self._on_stored = on_stored
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def store(self, items: Sequence[Incoming]) -> list[Stored]:
        """Store `items` (all in one transaction) and return once that is committed."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Stored]] = loop.create_future()
        self._queue.put((items, loop, future))
        return await future

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

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
                stored = self._store(session, [item for items, _, _ in jobs for item in items])
            results, start = [], 0
            for items, _, _ in jobs:  # each request gets back its own part
                results.append(stored[start : start + len(items)])
                start += len(items)
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
        for (_, loop, future), stored in zip(jobs, results, strict=True):
            by_loop.setdefault(loop, []).append((future, stored))
        for loop, answers in by_loop.items():
            loop.call_soon_threadsafe(_succeed_all, answers)

    @staticmethod
    def _store(session: Session, items: Sequence[Incoming]) -> list[Stored]:
        if len(items) == 1:
            i = items[0]
            return [store_raw(session, i.source, i.natural_key, i.body, i.meta, status=i.status)]
        return store_many(session, items)


_TABLE = table(RawMessage)
# store_raw's statement, run once for many rows: ON CONFLICT DO NOTHING leaves out
# what is already stored, and RETURNING says which keys were new.
_INSERT_MANY = {
    name: dialect.insert(_TABLE)
    .on_conflict_do_nothing(index_elements=["source", "natural_key"])
    .returning(_TABLE.c.id, _TABLE.c.source, _TABLE.c.natural_key)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def store_many(session: Session, items: Sequence[Incoming]) -> list[Stored]:
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
    connection = session.connection()
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
