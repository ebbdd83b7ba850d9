"""The pipeline worker component, and opening one incident per fingerprint when workers race."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from core.db import transaction
from core.grouping import Contended
from core.models import PENDING, PROCESSED, Incident, RawMessage, StoredReport
from core.pipeline import process_raw, run_pending
from core.store import store_raw
from core.worker import PipelineWorker, Wakeup
from ingest.raw import parse_raw
from tests.alert_helpers import count, storm_event, wait_until
from tests.conftest import EXAMPLES, require_shared
from tests.helpers import open_db, tx


def test_worker_processes_what_it_is_woken_for_and_stops(db_url: str) -> None:
    require_shared(EXAMPLES)
    rt = open_db(db_url)
    doorbell = Wakeup()
    # Polling once an hour: only the doorbell can make it notice new input in time.
    worker = PipelineWorker(rt.factory, rt.config, parse_raw, poll_seconds=3600, wakeup=doorbell)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_until_complete, args=(worker.run(stop),))
    runner.start()
    try:
        with tx(rt) as session:
            for n in range(30):
                store_raw(
                    session, "sentry", f"r{n}", storm_event(n % 3, n), {"resource": "event_alert"}
                )
        doorbell.ring()
        wait_until(lambda: count(rt, RawMessage, RawMessage.status == PROCESSED) == 30, 60, "work")
    finally:
        loop.call_soon_threadsafe(stop.set)
        runner.join(timeout=30)
    assert not runner.is_alive()  # stop ends the component
    assert worker.totals.processed == 30 and worker.totals.reports == 30
    assert count(rt, Incident) == 3


def test_worker_survives_a_poison_message(db_url: str) -> None:
    rt = open_db(db_url)
    doorbell = Wakeup()
    worker = PipelineWorker(rt.factory, rt.config, parse_raw, poll_seconds=3600, wakeup=doorbell)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_until_complete, args=(worker.run(stop),))
    runner.start()
    try:
        with tx(rt) as session:
            store_raw(session, "events", "bad", b"{not json", {"dedup_key": "x"})
            store_raw(session, "sentry", "good", storm_event(1, 1), {"resource": "event_alert"})
        doorbell.ring()
        wait_until(lambda: count(rt, RawMessage, RawMessage.status == PENDING) == 0, 60, "work")
    finally:
        loop.call_soon_threadsafe(stop.set)
        runner.join(timeout=30)
    with rt.factory() as session:
        states = dict(session.execute(select(RawMessage.natural_key, RawMessage.status)).all())
    assert states == {"bad": "quarantined", "good": PROCESSED}


def test_racing_workers_open_one_incident_per_fingerprint(postgres_db_url: str) -> None:
    """Two PostgreSQL transactions hold reports of the same new Sentry issue at once."""
    require_shared(EXAMPLES)
    rt = open_db(postgres_db_url)
    with tx(rt) as session:
        first = store_raw(session, "sentry", "a", storm_event(4, 1), {"resource": "event_alert"}).id
        second = store_raw(
            session, "sentry", "b", storm_event(4, 2), {"resource": "event_alert"}
        ).id
    at = datetime.now(UTC)
    with transaction(rt.factory) as one:
        process_raw(one, one.get_one(RawMessage, first), parse_raw, rt.config, at)
        # The first has opened the incident but not committed: the second must not open another.
        with pytest.raises(Contended), transaction(rt.factory) as two:
            process_raw(two, two.get_one(RawMessage, second), parse_raw, rt.config, at)
    # Through the pipeline the loser is left pending, not quarantined, and done next round.
    stats = run_pending(rt.factory, parse_raw, rt.config)
    assert stats.processed == 1 and stats.quarantined == 0
    with rt.factory() as session:
        incidents = session.scalars(select(Incident)).all()
        reports = session.scalars(select(StoredReport)).all()
    assert len(incidents) == 1
    assert [r.incident_id for r in reports] == [incidents[0].id] * 2


def test_a_contended_message_stays_pending(postgres_db_url: str) -> None:
    require_shared(EXAMPLES)
    rt = open_db(postgres_db_url)
    with tx(rt) as session:
        first = store_raw(session, "sentry", "a", storm_event(5, 1), {"resource": "event_alert"}).id
        store_raw(session, "sentry", "b", storm_event(5, 2), {"resource": "event_alert"})
    with transaction(rt.factory) as one:
        process_raw(one, one.get_one(RawMessage, first), parse_raw, rt.config, datetime.now(UTC))
        one.execute(
            RawMessage.__table__.update().where(RawMessage.id == first).values(status=PROCESSED)
        )
        stats = run_pending(rt.factory, parse_raw, rt.config)  # another worker, meanwhile
        assert stats.deferred == 1 and stats.quarantined == 0
    with rt.factory() as session:
        assert (
            session.scalar(select(RawMessage.status).where(RawMessage.natural_key == "b"))
            == PENDING
        )
