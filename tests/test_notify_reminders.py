"""Update reminders: per severity, to the audience's chat, stopping after an update or resolve."""

from __future__ import annotations

from datetime import timedelta

from core import lifecycle
from core.incident_writes import record_event
from notify import reminders
from tests.helpers import tx
from tests.notify_helpers import notify_runtime, outbox

CONFIG = """
[reminders]
SEV2 = 60

[[audience]]
name = "responders"
telegram = [-100200]
events = []
"""


def test_reminders_start_repeat_and_stop(db_url: str) -> None:
    rt = notify_runtime(db_url, CONFIG)
    with tx(rt) as session:
        incident = lifecycle.declare(session, "cli:ana", title="Slow API", severity="SEV2")
        minor = lifecycle.declare(session, "cli:ana", title="Typo on page", severity="SEV4")
        ref, opened = incident.ref, incident.opened_at
    assert reminders.send_due(rt, opened + timedelta(minutes=59)) == 0
    assert reminders.send_due(rt, opened + timedelta(minutes=61)) == 1
    rows = outbox(rt, kind="reminder")
    assert [(r.channel, r.recipient, r.context["ref"]) for r in rows] == [
        ("telegram", "-100200", ref)
    ]
    assert rows[0].context["reminder"]["minutes"] == 60
    assert minor.ref not in {r.context["ref"] for r in rows}, "SEV4 is never reminded"
    assert reminders.send_due(rt, opened + timedelta(minutes=62)) == 0  # not on every check
    # An update restarts the wait (posted at 70 min, through the one place events are written).
    with tx(rt) as session:
        record_event(
            session,
            incident.id,
            "update_posted",
            "cli:ana",
            "Found the slow query",
            opened + timedelta(minutes=70),
        )
    assert reminders.send_due(rt, opened + timedelta(minutes=125)) == 0
    assert reminders.send_due(rt, opened + timedelta(minutes=131)) == 1
    with tx(rt) as session:
        lifecycle.resolve(session, ref, "cli:ana")
    assert reminders.send_due(rt, opened + timedelta(hours=10)) == 0
    assert len(outbox(rt, kind="reminder")) == 2
