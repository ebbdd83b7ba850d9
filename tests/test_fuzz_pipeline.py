"""Damaged input of every source through the real pipeline (store_raw, then run_pending) on
SQLite and PostgreSQL: each message ends processed, ignored, or quarantined with a
ParseError; any other error is a bug (the database refusing a report, a parser crashing)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from core.models import IGNORED, PROCESSED, RawMessage
from core.pipeline import run_pending
from core.store import store_raw
from ingest.raw import parse_raw
from tests.conftest import CORPORA, require_shared
from tests.fuzz_settings import fuzz_settings
from tests.helpers import mail, open_db, tx
from tests.test_fuzz_email import SEEDS as MAIL_SEEDS
from tests.test_fuzz_email import damaged
from tests.test_fuzz_webhooks import (
    alertmanager_seeds,
    damage,
    event_seeds,
    has_unstorable,
    sentry_seeds,
    telegram_seeds,
)

Input = tuple[str, bytes, dict[str, Any]]


def _json(data: st.DataObject, payload: Any) -> bytes:
    text = json.dumps(payload, ensure_ascii=data.draw(st.booleans(), label="ascii"))
    return text.encode("utf-8", "surrogatepass")


def draw_input(data: st.DataObject) -> Input:
    source = data.draw(st.sampled_from(["email", "sentry", "telegram", "alertmanager", "events"]))
    if source == "email":
        seed = data.draw(st.sampled_from(MAIL_SEEDS), label="mail")
        return source, data.draw(damaged(seed.read_bytes()), label="damaged mail"), {}
    if source == "sentry":
        path, resource = data.draw(st.sampled_from(sentry_seeds()), label="sentry")
        payload = damage(data, json.loads(path.read_bytes()), st.none())
        return source, _json(data, payload), {"resource": resource}
    if source == "telegram":
        path = data.draw(st.sampled_from(telegram_seeds()), label="update")
        return source, _json(data, damage(data, json.loads(path.read_bytes()), st.none())), {}
    if source == "alertmanager":
        notification = json.loads(data.draw(st.sampled_from(alertmanager_seeds())).read_bytes())
        stored = {"alert": notification["alerts"][0], "group": notification}
        return source, _json(data, damage(data, stored, st.none())), {}
    event = damage(data, data.draw(st.sampled_from(event_seeds()), label="event"), st.none())
    dedup_key = event.get("dedup_key") if isinstance(event, dict) else None
    if has_unstorable(dedup_key):
        dedup_key = None  # the route refuses these with 400: never stored
    return source, _json(data, event), {"dedup_key": dedup_key or "fuzz"}


def test_damaged_input_of_every_source_through_the_pipeline(db_url: str) -> None:
    require_shared(CORPORA)
    rt = open_db(db_url)
    counter = iter(range(1_000_000))

    @fuzz_settings(25)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        inputs = [draw_input(data) for _ in range(data.draw(st.integers(1, 4), label="count"))]
        ids = []
        with tx(rt) as session:
            for source, body, meta in inputs:
                ids.append(store_raw(session, source, f"fuzz-{next(counter)}", body, meta).id)
            after = store_raw(session, "email", f"fuzz-{next(counter)}", mail("Next", "Still"))
        run_pending(rt.factory, parse_raw, rt.config)
        with tx(rt) as session:
            rows = session.scalars(select(RawMessage).where(RawMessage.id.in_(ids))).all()
            for row in rows:
                if row.status not in (PROCESSED, IGNORED):
                    assert (row.last_error or "").startswith("ParseError"), (
                        row.source,
                        row.last_error,
                        row.body[:300],
                    )
            next_mail = session.get(RawMessage, after.id)
            assert next_mail is not None and next_mail.status == PROCESSED

    run()
