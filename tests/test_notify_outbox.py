"""The outbox: one row per (event, recipient), written in the transaction of the change."""

from __future__ import annotations

import pytest

from core import lifecycle
from core.models_notify import PENDING
from core.pipeline import run_pending
from core.store import store_raw
from ingest.raw import parse_raw
from tests.helpers import mail, tx
from tests.notify_helpers import notify_runtime, outbox

AUDIENCES = """
[[audience]]
name = "leads"
emails = ["lead1@ourco.example", "lead2@ourco.example"]
telegram = [-1001]
events = ["declared", "update_posted", "resolved", "severity_changed", "triage_needed"]

[[audience]]
name = "security"
emails = ["sec@ourco.example"]
types = ["security"]
events = ["declared"]

[[audience]]
name = "major"
emails = ["cto@ourco.example"]
min_severity = "SEV2"
events = ["declared", "severity_changed"]

[[audience]]
name = "mail-only"
emails = ["support@ourco.example"]
sources = ["email"]
events = ["declared"]
"""


def test_declared_writes_one_row_per_recipient_in_the_same_transaction(db_url: str) -> None:
    rt = notify_runtime(db_url, AUDIENCES)
    with tx(rt) as session:
        incident = lifecycle.declare(session, "cli:ana", title="Office flood", severity="SEV3")
        ref = incident.ref
    rows = outbox(rt)
    # leads: two emails and a chat; security wants only security; major wants SEV2 or worse;
    # mail-only wants incidents from email reports (this one has none).
    assert sorted((r.audience, r.channel, r.recipient) for r in rows) == [
        ("leads", "email", "lead1@ourco.example"),
        ("leads", "email", "lead2@ourco.example"),
        ("leads", "telegram", "-1001"),
    ]
    assert {r.kind for r in rows} == {"declared"}
    assert all(r.state == PENDING and r.attempts == 0 for r in rows)
    context = rows[0].context
    assert context["ref"] == ref and context["title"] == "Office flood"
    assert context["url"] == f"http://127.0.0.1:8000/incidents/{ref}"
    assert set(context["golden"]) == {"impact", "urgent", "coordinate", "communicate", "review"}

    with tx(rt) as session:
        lifecycle.set_severity(session, ref, "SEV1", "cli:ana", "customers affected")
    changed = outbox(rt, kind="severity_changed")
    assert sorted(r.recipient for r in changed) == [
        "-1001",
        "cto@ourco.example",
        "lead1@ourco.example",
        "lead2@ourco.example",
    ]
    assert changed[0].context["severity"] == "SEV1"
    assert changed[0].context["event"]["old"] == "SEV3"

    with tx(rt) as session:
        lifecycle.post_update(session, ref, "Pumps on site, ETA 1h", "cli:ana")
    updates = outbox(rt, kind="update_posted")
    assert len(updates) == 3
    assert updates[0].context["update"]["text"] == "Pumps on site, ETA 1h"


def test_rollback_leaves_no_rows(db_url: str) -> None:
    rt = notify_runtime(db_url, AUDIENCES)
    with pytest.raises(RuntimeError), tx(rt) as session:
        lifecycle.declare(session, "cli:ana", title="Never happened")
        raise RuntimeError("the change is rolled back")
    assert outbox(rt) == []
    with tx(rt) as session:  # a later transaction in a reused session does not see stale notes
        lifecycle.declare(session, "cli:ana", title="Real one")
    assert {r.context["title"] for r in outbox(rt)} == {"Real one"}


def test_pipeline_declares_and_filters_by_source_and_type(db_url: str) -> None:
    rt = notify_runtime(db_url, AUDIENCES)
    body = mail(
        "URGENT: customer portal is down",
        "Hi, the customer portal is down for all of our users since 9:00, we lose orders. "
        "Please escalate, this is critical and everybody is affected.",
    )
    with tx(rt) as session:
        store_raw(session, "email", "test:1", body, {})
    run_pending(rt.work, parse_raw, rt.config)
    rows = outbox(rt)
    assert rows, "the email should have opened an incident"
    audiences = {r.audience for r in rows}
    assert "mail-only" in audiences  # its sources filter matched the email report
    assert "security" not in audiences
    assert rows[0].context["sources"] == ["email"]


def test_no_audience_no_rows_and_triage_needed(db_url: str) -> None:
    rt = notify_runtime(db_url, "")
    with tx(rt) as session:
        lifecycle.declare(session, "cli:ana", title="Nobody listens")
    assert outbox(rt) == []

    rt = notify_runtime(
        db_url,
        '[[audience]]\nname = "desk"\nemails = ["desk@ourco.example"]\n'
        'events = ["triage_needed", "resolved"]\n',
    )
    with tx(rt) as session:
        incident = lifecycle.open_incident(session, "Maybe", "rule:triage", "thin", status="triage")
        ref = incident.ref
    assert [r.kind for r in outbox(rt)] == ["triage_needed"]
    with tx(rt) as session:
        lifecycle.accept(session, ref, "cli:ana")
        lifecycle.resolve(session, ref, "cli:ana")
    assert [r.kind for r in outbox(rt)] == ["triage_needed", "resolved"]
    assert outbox(rt)[-1].context["status"] == "resolved"
