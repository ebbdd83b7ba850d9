"""The pipeline worker: triage and grouping of stored raw messages, after the HTTP response.

It runs `core.pipeline.run_pending` in threads, a batch at a time. A webhook
that stores something wakes it at once through `WAKEUP` (same process);
otherwise it looks for due messages every second, which is also how it finds
work stored by another process (a separate web process on PostgreSQL) and
quarantined messages whose retry time has come. Several threads or processes
share the queue safely: the claim is FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.pipeline import ParseRaw, Stats, run_pending
from core.runtime import Runtime

log = logging.getLogger(__name__)


class Wakeup:
    """A doorbell: `ring` after storing input; waiters return at once instead of polling."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._rings = 0

    @property
    def rings(self) -> int:
        return self._rings

    def ring(self) -> None:
        with self._condition:
            self._rings += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until rung after `seen` was read (True), or `timeout` passes (False)."""
        with self._condition:
            return self._condition.wait_for(lambda: self._rings != seen, timeout)


WAKEUP = Wakeup()  # the web routes of this process ring it after each durable commit


class WriteTurns:
    """Turn-taking for SQLite's one writer inside a process: intake and pipeline alternate.

    SQLite lets one transaction write at a time, and a writer that finds the
    database locked sleeps in growing steps: a pipeline worker committing batch
    after batch would starve the webhooks' commits, and webhook commits coming
    every few milliseconds would starve the pipeline. Here they take turns on a
    condition variable instead: when both wait, the side that did not go last
    goes next. (PostgreSQL needs none of this.)
    """

    INTAKE, PIPELINE = "intake", "pipeline"

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._busy = False
        self._waiting = {self.INTAKE: 0, self.PIPELINE: 0}
        self._last = self.PIPELINE

    def _may_go(self, side: str) -> bool:
        other = self.PIPELINE if side == self.INTAKE else self.INTAKE
        return not self._busy and not (self._waiting[other] and self._last == side)

    @contextmanager
    def _turn(self, side: str) -> Iterator[None]:
        with self._condition:
            self._waiting[side] += 1
            self._condition.wait_for(lambda: self._may_go(side))
            self._waiting[side] -= 1
            self._busy, self._last = True, side
        try:
            yield
        finally:
            self._release()

    def intake(self) -> AbstractContextManager[None]:
        return self._turn(self.INTAKE)

    def pipeline(self) -> AbstractContextManager[None]:
        return self._turn(self.PIPELINE)

    @contextmanager
    def intake_if_free(self) -> Iterator[bool]:
        """The intake turn if it is ours right now, without waiting (for the event loop)."""
        with self._condition:
            mine = self._may_go(self.INTAKE)
            if mine:
                self._busy, self._last = True, self.INTAKE
        try:
            yield mine
        finally:
            if mine:
                self._release()

    def _release(self) -> None:
        with self._condition:
            self._busy = False
            self._condition.notify_all()


SQLITE_TURNS = WriteTurns()


def turns_for(factory: sessionmaker[Session]) -> WriteTurns | None:
    """The turn-taking a database needs in this process: SQLite's, or none."""
    bind = factory.kw.get("bind")
    return SQLITE_TURNS if bind is not None and bind.dialect.name == "sqlite" else None


@dataclass
class Totals:
    """What the worker has done since it started (for logs and tests)."""

    processed: int = 0
    ignored: int = 0
    quarantined: int = 0
    parked: int = 0
    reports: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, stats: Stats) -> None:
        self.processed += stats.processed
        self.ignored += stats.ignored
        self.quarantined += stats.quarantined
        self.parked += stats.parked
        self.reports += stats.reports
        self.errors.extend(stats.errors[-20:])
        del self.errors[:-100]


class PipelineWorker:
    """A `core.service.Component` running the pipeline in `threads` threads."""

    name = "pipeline"

    def __init__(
        self,
        factory: sessionmaker[Session],
        config: Config,
        parse: ParseRaw,
        threads: int = 1,
        batch: int | None = None,
        poll_seconds: float = 1.0,
        wakeup: Wakeup = WAKEUP,
    ) -> None:
        self.factory = factory
        self.config = config
        self.parse = parse
        self.threads = threads
        self.turns = turns_for(factory)
        self.batch = batch or (25 if self.turns else 20)  # messages per round
        # Messages per transaction: the whole round. SQLite has one writer, so a
        # few per commit, turns taken with the intake. PostgreSQL workers run side
        # by side; a batch updates its incidents' and fingerprints' activity only
        # at its end, in id order (core.incident_writes.Touches), so two batches
        # touching the same incidents queue on those rows instead of deadlocking.
        self.per_transaction = self.batch
        self.poll_seconds = poll_seconds
        self.wakeup = wakeup
        self.totals = Totals()
        self._totals_lock = threading.Lock()

    @classmethod
    def from_runtime(cls, rt: Runtime, threads: int = 1) -> PipelineWorker:
        from ingest.raw import parse_raw  # the wiring is where core meets ingest

        return cls(rt.work, rt.config, parse_raw, threads=threads)

    async def run(self, stop: asyncio.Event) -> None:
        halt = threading.Event()
        loops: asyncio.Future[Any] = asyncio.gather(
            *(asyncio.to_thread(self._loop, halt) for _ in range(self.threads))
        )
        stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({loops, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            halt.set()
            self.wakeup.ring()
            stopping.cancel()
            await loops  # each thread finishes the batch it is in: no transaction half done

    def _loop(self, halt: threading.Event) -> None:
        while not halt.is_set():
            seen = self.wakeup.rings
            try:
                with self.turns.pipeline() if self.turns else nullcontext():
                    stats = run_pending(
                        self.factory,
                        self.parse,
                        self.config,
                        limit=self.batch,
                        batch=self.per_transaction,
                    )
            except Exception:  # the database went away: wait, and the next round retries
                log.exception("pipeline round failed")
                halt.wait(self.poll_seconds)
                continue
            with self._totals_lock:
                self.totals.add(stats)
            done = stats.processed + stats.ignored + stats.quarantined + stats.parked
            if done >= self.batch:
                continue  # more may be waiting
            if stats.deferred:
                time.sleep(0.005)  # another worker holds those fingerprints; it commits soon
                continue
            self.wakeup.wait(seen, self.poll_seconds)  # returns at once if rung meanwhile
