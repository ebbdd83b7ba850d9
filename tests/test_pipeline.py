"""The durable pipeline on SQLite and PostgreSQL: store once, process, quarantine, group."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.models import (
    PARKED,
    PENDING,
    PROCESSED,
    QUARANTINED,
    Incident,
    RawMessage,
    StoredReport,
    TimelineEvent,
)
from core.pipeline import reprocess, run_pending
from core.report import ParseError, Report
from core.store import store_raw
from ingest.raw import parse_raw
from tests.conftest import EXAMPLES, require_shared
from tests.helpers import Clock, mail, open_db, tx


def store(rt, source: str, key: str, body: bytes, **meta: object) -> int:  # type: ignore[no-untyped-def]
    with tx(rt) as session:
        return store_raw(session, source, key, body, dict(meta)).id


def count(rt, model) -> int:  # type: ignore[no-untyped-def]
    with rt.factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_examples_end_to_end(db_url: str) -> None:
    require_shared(EXAMPLES)
    rt = open_db(db_url)
    labels = json.loads((EXAMPLES / "labels.json").read_text())
    for name in sorted(labels):
        body = (EXAMPLES / name).read_bytes()
        source = "email" if name.endswith(".eml") else name.split(".")[-2]
        store(rt, source, f"file:{name}", body, origin=name)
    stats = run_pending(rt.factory, parse_raw, rt.config)
    assert stats.processed == 10 and stats.quarantined == 0
    with rt.factory() as session:
        incidents = session.scalars(select(Incident).order_by(Incident.id)).all()
        assert len(incidents) == sum(1 for lab in labels.values() if lab["incident"])
        assert all(i.status == "live" for i in incidents)
        for incident in incidents:
            kinds = [e.kind for e in incident.events]
            assert kinds[:2] == ["declared", "report_attached"]
            assert incident.events[0].actor == "rule:triage"
        reports = session.scalars(select(StoredReport)).all()
        assert len(reports) == 10
        for report in reports:
            name = Path(report.raw.meta["origin"]).name
            assert report.decision == ("incident" if labels[name]["incident"] else "not_incident")
            assert (report.incident_id is not None) == labels[name]["incident"]
            assert set(report.golden) == {"impact", "urgent", "coordinate", "communicate", "review"}


def test_same_input_twice_is_stored_once(db_url: str) -> None:
    rt = open_db(db_url)
    body = mail("Checkout down", "Checkout is down for everyone since 10:02, customers calling")
    with tx(rt) as session:
        first = store_raw(session, "email", "imap:inbox:1:7", body)
        again = store_raw(session, "email", "imap:inbox:1:7", body)
    assert first.created and not again.created
    assert again.id == first.id
    with tx(rt) as session:
        other_key = store_raw(session, "email", "imap:other:1:3", body, content_key="mid|hash")
        same_content = store_raw(session, "email", "imap:third:1:9", body, content_key="mid|hash")
    assert other_key.created and not same_content.created
    assert count(rt, RawMessage) == 2


def test_a_parse_failure_is_quarantined_and_the_rest_flow(db_url: str) -> None:
    rt = open_db(db_url)
    clock = Clock()
    bad = store(rt, "email", "bad", b"")
    good = store(rt, "email", "good", mail("Portal down", "The portal is down, 502 for all users"))
    stats = run_pending(rt.factory, parse_raw, rt.config, clock=clock)
    assert stats.processed == 1 and stats.quarantined == 1
    with rt.factory() as session:
        raw_bad = session.get(RawMessage, bad)
        assert raw_bad is not None
        assert raw_bad.status == QUARANTINED and raw_bad.attempts == 1
        assert "ParseError" in (raw_bad.last_error or "")
        raw_good = session.get(RawMessage, good)
        assert raw_good is not None and raw_good.status == PROCESSED
    # Not due yet: nothing happens; after the backoff it is retried, and parked after 3.
    assert run_pending(rt.factory, parse_raw, rt.config, clock=clock).quarantined == 0
    for expected_attempts in (2, 3):
        clock.advance(hours=1)
        run_pending(rt.factory, parse_raw, rt.config, clock=clock)
        with rt.factory() as session:
            raw_bad = session.get(RawMessage, bad)
            assert raw_bad is not None and raw_bad.attempts == expected_attempts
    assert raw_bad.status == PARKED
    clock.advance(days=1)
    assert run_pending(rt.factory, parse_raw, rt.config, clock=clock).parked == 0


def test_a_triage_crash_is_quarantined_then_reprocessed(db_url: str) -> None:
    rt = open_db(db_url)
    poison = store(rt, "email", "poison", mail("Poison", "payments failing for all customers"))
    fine = store(rt, "email", "fine", mail("Lunch", "Who is in for lunch?"))
    broken = {"on": True}

    def flaky_parse(raw: RawMessage) -> list[Report]:
        if raw.id == poison and broken["on"]:
            raise RuntimeError("rule crashed on this input")
        return parse_raw(raw)

    stats = run_pending(rt.factory, flaky_parse, rt.config)
    assert (stats.processed, stats.quarantined) == (1, 1)
    assert "rule crashed" in stats.errors[0]
    with rt.factory() as session:
        assert session.get(RawMessage, fine).status == PROCESSED  # type: ignore[union-attr]
    broken["on"] = False
    with tx(rt) as session:
        assert reprocess(session) == 1
        raw = session.get(RawMessage, poison)
        assert raw is not None and raw.status == PENDING and raw.attempts == 0
    stats = run_pending(rt.factory, flaky_parse, rt.config)
    assert stats.processed == 1
    assert count(rt, Incident) == 1


def sentry_event(issue_id: str, event_id: str) -> bytes:
    require_shared(EXAMPLES)
    body = json.loads((EXAMPLES / "001-checkout-error-single-customer.sentry.json").read_text())
    event = copy.deepcopy(body)
    event["data"]["event"]["issue_id"] = issue_id
    event["data"]["event"]["groupID"] = issue_id
    event["data"]["event"]["event_id"] = event_id
    return json.dumps(event).encode()


def test_repeated_sentry_events_join_one_incident(db_url: str) -> None:
    rt = open_db(db_url)
    for n in range(5):
        store(rt, "sentry", f"req-a-{n}", sentry_event("111", f"a{n}"))
    store(rt, "sentry", "req-b-0", sentry_event("222", "b0"))
    run_pending(rt.factory, parse_raw, rt.config)
    with rt.factory() as session:
        incidents = session.scalars(select(Incident).order_by(Incident.id)).all()
        assert [len(i.reports) for i in incidents] == [5, 1]
        declared = session.scalars(
            select(TimelineEvent).where(TimelineEvent.kind == "declared")
        ).all()
        assert len(declared) == 2


def test_a_resolved_incident_is_never_reopened(db_url: str) -> None:
    from core import lifecycle

    rt = open_db(db_url)
    store(rt, "sentry", "r1", sentry_event("333", "e1"))
    run_pending(rt.factory, parse_raw, rt.config)
    with tx(rt) as session:
        lifecycle.resolve(session, "INC-1", "alice", "fixed in 7.2.1")
    store(rt, "sentry", "r2", sentry_event("333", "e2"))
    run_pending(rt.factory, parse_raw, rt.config)
    with rt.factory() as session:
        first, second = session.scalars(select(Incident).order_by(Incident.id)).all()
        assert first.status == "resolved" and len(first.reports) == 1
        assert second.status == "live" and second.follows_id == first.id
        assert [e.kind for e in second.events][:2] == ["declared", "linked"]


def test_email_thread_replies_join_the_incident(db_url: str) -> None:
    rt = open_db(db_url)
    first_id = "<outage-1@customer.example>"
    store(
        rt,
        "email",
        "m1",
        mail(
            "Booking portal down",
            "Nobody can log in to the booking portal, 502 errors since 9:10. Urgent!",
            message_id=first_id,
        ),
    )
    store(
        rt,
        "email",
        "m2",
        mail(
            "Re: Booking portal down",
            "Thanks, we are looking at it.\n\nOn Tue, Ana wrote:\n> Nobody can log in",
            sender="Sam <sam@ourco.example>",
            in_reply_to=first_id,
        ),
    )
    store(
        rt,
        "email",
        "m3",
        mail("Lunch friday", "Who is in for lunch on Friday?", sender="sam@ourco.example"),
    )
    run_pending(rt.factory, parse_raw, rt.config)
    with rt.factory() as session:
        [incident] = session.scalars(select(Incident)).all()
        assert len(incident.reports) == 2
        lunch = session.scalar(select(StoredReport).where(StoredReport.title == "Lunch friday"))
        assert lunch is not None and lunch.incident_id is None


def test_a_tagged_subject_attaches_to_that_incident(db_url: str) -> None:
    rt = open_db(db_url)
    store(rt, "email", "m1", mail("Payments failing", "Card payments failing for everyone, urgent"))
    run_pending(rt.factory, parse_raw, rt.config)
    store(
        rt,
        "email",
        "m2",
        mail(
            "Update [INC-1] payments", "Still failing in the EU region.", sender="x@other.example"
        ),
    )
    run_pending(rt.factory, parse_raw, rt.config)
    with rt.factory() as session:
        incident = session.get(Incident, 1)
        assert incident is not None and len(incident.reports) == 2


def test_needs_review_opens_an_incident_in_triage(db_url: str) -> None:
    from core.config import Config, TriageConfig

    rt = open_db(db_url, Config(triage=TriageConfig(threshold=5)))
    store(rt, "email", "m1", mail("Search slow", "Search is failing for some users right now"))
    run_pending(rt.factory, parse_raw, rt.config)
    with rt.factory() as session:
        report = session.scalars(select(StoredReport)).one()
        assert report.decision == "needs_review"
        assert report.incident is not None and report.incident.status == "triage"


def test_parse_error_for_unknown_source(db_url: str) -> None:
    rt = open_db(db_url)
    raw_id = store(rt, "carrier-pigeon", "k", b"coo")
    run_pending(rt.factory, parse_raw, rt.config)
    with rt.factory() as session:
        raw = session.get(RawMessage, raw_id)
        assert raw is not None and "no parser for source" in (raw.last_error or "")
    with pytest.raises(ParseError):
        parse_raw(raw)
