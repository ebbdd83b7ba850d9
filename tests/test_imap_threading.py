"""Replies find their incident; a tagged mail from outside the thread says so on the timeline."""

from __future__ import annotations

from sqlalchemy import select

from core.db import transaction
from core.models import Incident, RawMessage, StoredReport, TimelineEvent
from core.pipeline import run_pending
from core.runtime import Runtime
from ingest.imap_store import store_mail
from ingest.raw import parse_raw
from tests.helpers import mail, open_db

URGENT = (
    "Since 09:10 every payment fails with a 502. Customers are calling support and the press "
    "asked. We need engineering and support on a call now; let us do a postmortem after."
)


def deliver(rt: Runtime, key: str, body: bytes) -> None:
    with transaction(rt.factory) as session:
        store_mail(session, key, body, {"via": "test"})
    run_pending(rt.factory, parse_raw, rt.config)


def attached_because(rt: Runtime, key: str) -> tuple[int | None, str]:
    with rt.factory() as session:
        report = session.scalars(
            select(StoredReport).join(RawMessage).where(RawMessage.natural_key == key)
        ).one()
        reason = session.scalar(
            select(TimelineEvent.reason).where(
                TimelineEvent.kind == "report_attached",
                TimelineEvent.data["report_id"].as_integer() == report.id,
            )
        )
        return report.incident_id, reason or ""


def test_replies_and_tags_attach_and_a_stranger_is_named(db_url: str) -> None:
    rt = open_db(db_url)
    deliver(
        rt,
        "k1",
        mail(
            "URGENT: checkout is down",
            URGENT,
            sender="Ana Ruiz <ana@customer.example>",
            message_id="<root@customer.example>",
        ),
    )
    with rt.factory() as session:
        incident = session.scalars(select(Incident)).one()
    ref = f"INC-{incident.id}"

    deliver(
        rt,
        "k2",
        mail(f"Re: [{ref}] still down", "Still failing here.", sender="ana@customer.example"),
    )
    deliver(
        rt,
        "k3",
        mail(
            "Re: URGENT: checkout is down",
            "Same for us.",
            sender="bob@shop.example",
            in_reply_to="<root@customer.example>",
        ),
    )
    deliver(
        rt,
        "k4",
        mail(
            f"[{ref}] me too",
            "Is this related to my order?",
            sender="Mallory <mallory@else.example>",
        ),
    )
    deliver(
        rt,
        "k5",
        mail(
            f"Re: [{ref}] update",
            "Joining the call.",
            sender="carol@ourco.example",
            in_reply_to="<root@customer.example>",
        ),
    )

    on_thread = attached_because(rt, "k2")
    assert on_thread == (incident.id, "tagged with its ref in the subject")
    reply = attached_because(rt, "k3")
    assert reply == (incident.id, "a reply to a report of this incident")
    stranger_incident, why = attached_because(rt, "k4")
    assert stranger_incident == incident.id  # attached, as its own report, never dropped
    assert "mallory@else.example, who is not on the thread" in why
    # A newcomer who replies in the thread is on it, tag or not.
    assert attached_because(rt, "k5")[1] == "tagged with its ref in the subject"
    with rt.factory() as session:
        assert len(session.scalars(select(Incident)).all()) == 1
        assert len(session.scalars(select(StoredReport)).all()) == 5
