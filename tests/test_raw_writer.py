"""The webhooks' group-commit writer: batches, idempotency, and never stalling the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from core.models import RawMessage
from core.web.raw_writer import Incoming, RawWriter
from core.web.wal_checkpoint import BackgroundCheckpoint
from core.worker import turns_for
from tests.helpers import open_db, tx


def _incoming(n: int, key: str | None = None) -> Incoming:
    return Incoming("sentry", key or f"req-{n}", f'{{"n": {n}}}'.encode(), {"request_id": n})


def test_concurrent_requests_share_commits_and_get_their_own_rows(db_url: str) -> None:
    rt = open_db(db_url)
    stored_calls: list[int] = []
    writer = RawWriter(rt.factory, on_stored=lambda: stored_calls.append(1))

    async def main() -> list[list[int]]:
        answers = await asyncio.gather(
            *(writer.store([_incoming(n)]) for n in range(200)),
            writer.store([_incoming(1000), _incoming(1001, key="req-5")]),  # one old key
        )
        return [[s.id for s in a] for a in answers]

    try:
        ids = asyncio.run(main())
    finally:
        writer.close()
    with tx(rt) as session:
        rows = dict(session.execute(select(RawMessage.natural_key, RawMessage.id)).all())
        metas = session.scalars(select(RawMessage.meta).where(RawMessage.natural_key == "req-7"))
        assert list(metas) == [{"request_id": 7}]
    assert len(rows) == 201  # 200 + req-1000; the repeated req-5 is the same row
    for n in range(200):
        assert ids[n] == [rows[f"req-{n}"]]
    assert ids[200] == [rows["req-1000"], rows["req-5"]]
    assert 1 <= len(stored_calls) < 201  # batched: far fewer commits than requests


def test_sqlite_writer_hands_over_instead_of_blocking_the_loop(tmp_path: Path) -> None:
    """Another process holding SQLite's write lock must not freeze the web app's loop."""
    rt = open_db(f"sqlite:///{tmp_path}/intake.db")
    writer = RawWriter(rt.factory, on_stored=lambda: None)
    other = sqlite3.connect(tmp_path / "intake.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # like a CLI command writing in another process
    held = threading.Event()
    held.set()
    ticks: list[bool] = []  # one per turn of the loop: was the other writer still holding on?

    def finish_other() -> None:
        held.clear()
        other.rollback()

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(held.is_set())
            await asyncio.sleep(0.01)

    async def main() -> int:
        stop = asyncio.Event()
        ticking = asyncio.create_task(ticker(stop))
        threading.Timer(0.5, finish_other).start()  # the other writer finishes later
        (stored,) = await writer.store([_incoming(1)])
        stop.set()
        await ticking
        return stored.id

    try:
        row_id = asyncio.run(main())
    finally:
        writer.close()
        other.close()
    assert row_id
    # A loop waiting on the lock would not have turned at all until the other writer let go.
    assert ticks.count(True) >= 5
    with tx(rt) as session:
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 1


def test_sqlite_writer_waits_for_the_pipelines_turn_off_the_loop(tmp_path: Path) -> None:
    rt = open_db(f"sqlite:///{tmp_path}/intake.db")
    writer = RawWriter(rt.factory, on_stored=lambda: None)
    turns = turns_for(rt.factory)
    assert turns is not None
    released = threading.Event()

    def pipeline_turn() -> None:
        with turns.pipeline():
            released.wait(5)

    holder = threading.Thread(target=pipeline_turn)
    holder.start()

    async def main() -> bool:
        store = asyncio.create_task(writer.store([_incoming(1)]))
        await asyncio.sleep(0.3)
        waiting = not store.done()  # queued behind the pipeline, and the loop is free
        released.set()
        await store
        return waiting

    try:
        assert asyncio.run(main())
    finally:
        released.set()
        holder.join()
        writer.close()
    with tx(rt) as session:
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 1


def test_the_webhook_writer_checkpoints_the_wal_off_its_commits(tmp_path: Path) -> None:
    """Its commits skip SQLite's own checkpoints, yet the WAL stays bounded under steady load."""
    rt = open_db(f"sqlite:///{tmp_path}/intake.db")
    checkpoint = BackgroundCheckpoint(rt.engine, every_rows=500, restart_rows=1500)
    writer = RawWriter(rt.factory, on_stored=lambda: None, checkpoint=checkpoint)
    body = b"x" * 3000  # a typical alert: 10,000 of them are 30 MB
    wal = tmp_path / "intake.db-wal"
    largest = 0

    async def main() -> None:
        nonlocal largest
        for start in range(0, 10_000, 250):  # no pause: the writer never stops writing
            await asyncio.gather(
                *(
                    writer.store([Incoming("sentry", f"r{n}", body)])
                    for n in range(start, start + 250)
                )
            )
            largest = max(largest, wal.stat().st_size)

    try:
        asyncio.run(main())
    finally:
        writer.close()
    assert largest < 20_000_000  # without the restarts the WAL grows past 30 MB
    with rt.engine.connect() as connection:  # a pooled connection keeps the normal settings
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    with tx(rt) as session:
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 10_000


def test_webhooks_and_a_busy_pipeline_take_turns(tmp_path: Path) -> None:
    """A pipeline with a backlog and a steady stream of webhooks both keep going."""
    rt = open_db(f"sqlite:///{tmp_path}/intake.db")
    writer = RawWriter(rt.factory, on_stored=lambda: None)
    turns = turns_for(rt.factory)
    assert turns is not None
    pipeline_turns = 0
    stop = threading.Event()

    def pipeline() -> None:  # batch after batch, as with a backlog
        nonlocal pipeline_turns
        while not stop.is_set():
            with turns.pipeline():
                pipeline_turns += 1
                _python_work(0.005)  # triage holds the GIL, as the real pipeline does

    async def stream(first: int) -> None:  # one sender: each request waits for its commit
        for n in range(first, first + 40):
            await writer.store([_incoming(n)])

    async def webhooks() -> None:
        await asyncio.gather(*(stream(first) for first in range(0, 800, 40)))

    worker = threading.Thread(target=pipeline)
    worker.start()
    try:
        asyncio.run(webhooks())
        during = pipeline_turns
    finally:
        stop.set()
        worker.join()
        writer.close()
    assert during >= 20  # the pipeline was not shut out by the webhooks' commits
    with tx(rt) as session:
        assert session.scalar(select(func.count()).select_from(RawMessage)) == 800


def _python_work(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(100))
