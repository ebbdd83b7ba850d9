"""The incident writes the pipeline makes for every report, as plain SQL statements.

Opening an incident, attaching a report, remembering a fingerprint and
writing a timeline event happen thousands of times a minute in an alert
storm; built once and run with parameters, they cost a fraction of the ORM's
unit of work. The lifecycle's person-driven operations use them too, so a
timeline event is written in exactly one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from core.models import (
    Incident,
    IncidentFingerprint,
    StoredReport,
    TimelineEvent,
    now,
    table,
)

_INCIDENTS = table(Incident)
_EVENTS = table(TimelineEvent)
_FINGERPRINTS = table(IncidentFingerprint)
_REPORTS = table(StoredReport)

# Built once, run with parameters: building a statement per call would cost
# more than the database work.
_INSERT_EVENT = insert(_EVENTS)
_INSERT_INCIDENT = insert(_INCIDENTS).returning(_INCIDENTS.c.id)
_TOUCH_INCIDENT = (
    update(_INCIDENTS)
    .where(_INCIDENTS.c.id == bindparam("incident"))
    .values(last_activity_at=bindparam("at"))
)
_SET_REPORT_INCIDENT = (
    update(_REPORTS)
    .where(_REPORTS.c.id == bindparam("report"))
    .values(incident_id=bindparam("incident"))
)
_FP_KEY = (_FINGERPRINTS.c.incident_id == bindparam("incident")) & (
    _FINGERPRINTS.c.fingerprint == bindparam("fp")
)
_FP_SEEN = select(_FINGERPRINTS.c.last_seen_at).where(_FP_KEY)
_FP_INSERT = insert(_FINGERPRINTS)
_FP_TOUCH = (
    update(_FINGERPRINTS).where(_FP_KEY).values(last_seen_at=bindparam("at"), resolved=False)
)
# Sessions may carry a hook (session.info[EVENT_HOOK]) that sees every timeline
# event, e.g. the notification outbox; core calls it without knowing who listens.
EVENT_HOOK = "intake.on_event"

# A pipeline transaction may carry a Touches (session.info[TOUCHES]): then the
# activity touches of incidents and fingerprints are gathered and written once
# per row at the end of the transaction instead of once per report.
TOUCHES = "intake.touches"

_STATE = select(_INCIDENTS.c.status, _INCIDENTS.c.merged_into_id).where(
    _INCIDENTS.c.id == bindparam("incident")
)


def record_event(
    session: Session,
    incident_id: int,
    kind: str,
    actor: str,
    reason: str = "",
    at: datetime | None = None,
    **data: Any,
) -> None:
    at = at or now()
    connection = session.connection()
    connection.execute(
        _INSERT_EVENT,
        {
            "incident_id": incident_id,
            "kind": kind,
            "actor": actor,
            "reason": reason,
            "data": data,
            "at": at,
        },
    )
    touches = session.info.get(TOUCHES)
    if touches is not None:
        touches.incident(incident_id, at)
    else:
        connection.execute(_TOUCH_INCIDENT, {"incident": incident_id, "at": at})
    hook = session.info.get(EVENT_HOOK)
    if hook is not None:
        hook(session, incident_id, kind, actor, reason, at, data)


def open_incident(
    session: Session,
    title: str,
    actor: str,
    reason: str,
    status: str,
    severity: str,
    types: list[str],
    quadrant: str,
    at: datetime,
    follows: tuple[int, str] | None = None,  # (id, status) of the incident this one follows
) -> int:
    connection = session.connection()
    incident_id = connection.execute(
        _INSERT_INCIDENT,
        {
            "title": title[:500] or "(untitled)",
            "status": status,
            "severity": severity,
            "types": list(types),
            "quadrant": quadrant,
            "opened_at": at,
            "last_activity_at": at,
            "follows_id": follows[0] if follows else None,
        },
    ).scalar_one()
    record_event(
        session, incident_id, "declared", actor, reason, at, status=status, severity=severity
    )
    if follows is not None:
        record_event(
            session,
            incident_id,
            "linked",
            actor,
            f"follows INC-{follows[0]}, which was already {follows[1]}",
            at,
            follows=f"INC-{follows[0]}",
        )
    return int(incident_id)


def attach_report(
    session: Session,
    incident_id: int,
    report_id: int,
    fingerprint: str,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    connection = session.connection()
    connection.execute(_SET_REPORT_INCIDENT, {"report": report_id, "incident": incident_id})
    record_event(session, incident_id, "report_attached", actor, reason, at, report_id=report_id)
    if fingerprint:
        remember_fingerprint(session, incident_id, fingerprint, at)


def remember_fingerprint(
    session: Session, incident_id: int, fingerprint: str, at: datetime
) -> None:
    connection = session.connection()
    touches = session.info.get(TOUCHES)
    if touches is not None and touches.seen(incident_id, fingerprint, at):
        return  # known row in this transaction: touched once at its end
    key = {"incident": incident_id, "fp": fingerprint}  # not "fingerprint": UPDATE reserves it
    seen = connection.execute(_FP_SEEN, key).scalar()
    if seen is None:
        row = {"incident_id": incident_id, "fingerprint": fingerprint, "last_seen_at": at}
        connection.execute(_FP_INSERT, {**row, "resolved": False})
        if touches is not None:
            touches.known[(incident_id, fingerprint)] = at
    elif touches is not None:
        touches.known[(incident_id, fingerprint)] = seen
        touches.seen(incident_id, fingerprint, at)
    elif seen < at:
        connection.execute(_FP_TOUCH, {**key, "at": at})


class Touches:
    """The activity touches of one pipeline transaction, written once per row when it ends.

    An alert storm attaches hundreds of reports to the same few incidents: one
    UPDATE of an incident's last_activity_at (and of its fingerprint's
    last_seen_at) per transaction instead of one per report. `flush` writes
    them in id order, so concurrent PostgreSQL transactions lock rows in the
    same order. Anything that reads or changes fingerprint rows mid-transaction
    (resolution) must `flush` first.
    """

    def __init__(self) -> None:
        self.incidents: dict[int, datetime] = {}
        self.fingerprints: dict[tuple[int, str], datetime] = {}
        self.known: dict[tuple[int, str], datetime] = {}  # existing rows: last_seen_at

    def incident(self, incident_id: int, at: datetime) -> None:
        if incident_id not in self.incidents or self.incidents[incident_id] < at:
            self.incidents[incident_id] = at

    def seen(self, incident_id: int, fingerprint: str, at: datetime) -> bool:
        """True when the row is known to exist; a touch to a later `at` is then noted."""
        key = (incident_id, fingerprint)
        last_seen = self.known.get(key)
        if last_seen is None:
            return False
        if last_seen < at:  # as the immediate path: only a later sighting touches the row
            self.known[key] = self.fingerprints[key] = at
        return True

    def snapshot(self) -> tuple[dict[int, datetime], dict[tuple[int, str], datetime]]:
        return dict(self.incidents), dict(self.fingerprints)

    def restore(self, saved: tuple[dict[int, datetime], dict[tuple[int, str], datetime]]) -> None:
        """Back to `saved`, after a savepoint rollback (rows it inserted are gone too)."""
        self.incidents, self.fingerprints = saved
        self.known.clear()

    def flush(self, session: Session) -> None:
        connection = session.connection()
        if self.incidents:
            rows = [{"incident": i, "at": at} for i, at in sorted(self.incidents.items())]
            connection.execute(_TOUCH_INCIDENT, rows)
        if self.fingerprints:
            touched = sorted(self.fingerprints.items())
            rows = [{"incident": i, "fp": f, "at": at} for (i, f), at in touched]
            connection.execute(_FP_TOUCH, rows)
        self.incidents.clear()
        self.fingerprints.clear()


def incident_state(session: Session, incident_id: int) -> tuple[str, int | None] | None:
    """(status, merged_into_id) of an incident, or None if there is none."""
    row = session.connection().execute(_STATE, {"incident": incident_id}).first()
    return (row[0], row[1]) if row else None
