"""A deadlock between two workers is the database's problem, not the message's."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from core.models import PROCESSED, RawMessage
from core.pipeline import run_pending
from core.report import Report
from core.store import store_raw
from ingest.raw import parse_raw
from tests.helpers import Clock, mail, open_db, tx


class _Deadlock(Exception):
    sqlstate = "40P01"  # what psycopg puts on PostgreSQL's deadlock_detected


def test_a_deadlocked_message_stays_pending_and_goes_through_next_round(db_url: str) -> None:
    rt = open_db(db_url)
    clock = Clock()
    with tx(rt) as session:
        first = store_raw(session, "email", "a", mail("Checkout down", "502 for every customer"))
        second = store_raw(session, "email", "b", mail("Login slow", "login takes 30 s for all"))
    failures = {"left": 2}  # fails in the optimistic pass and again in the careful one

    def parse(raw: RawMessage) -> list[Report]:
        if raw.id == first.id and failures["left"]:
            failures["left"] -= 1
            raise OperationalError("UPDATE incidents ...", {}, _Deadlock("deadlock detected"))
        return parse_raw(raw)

    stats = run_pending(rt.factory, parse, rt.config, clock=clock)
    # Not quarantined (no 30 s backoff, no error recorded): it went again at once.
    assert stats.quarantined == 0 and stats.deferred == 1 and stats.processed == 2
    with tx(rt) as session:
        for row_id in (first.id, second.id):
            raw = session.get(RawMessage, row_id)
            assert raw is not None and raw.status == PROCESSED
            assert raw.attempts == 0 and not raw.last_error
