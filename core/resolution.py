"""Resolution: a source saying "resolved" (or "acknowledged") about what an incident holds.

A Sentry issue resolved, a Sentry metric alert resolved, an Alertmanager
alert resolved or an events-API resolve adds a "source_resolved" timeline
event to each open incident holding the report's fingerprint and marks that
fingerprint resolved there. When every fingerprint of the incident is
resolved, the incident is resolved (`[alerts] resolve = "resolve"`, for a
live incident) or a "resolution_suggested" event asks a person to
(`"suggest"`, or an incident still in triage). A later trigger with the same
fingerprint then opens a new incident linked to the resolved one (grouping
never reopens), or, if the incident stayed open, attaches and marks the
fingerprint unresolved again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.orm import Session

from core import incident_writes as writes
from core.models import (
    LIVE,
    OPEN_STATUSES,
    RESOLVED,
    Incident,
    IncidentFingerprint,
    StoredReport,
    table,
)
from core.report import Report

ACTOR = "rule:resolution"
RESOLVE, ACKNOWLEDGE = "resolved", "acknowledged"
_F = table(IncidentFingerprint).c
_I = table(Incident).c
_OPEN_HOLDERS = (
    select(_I.id, _I.status)
    .join(table(IncidentFingerprint), _F.incident_id == _I.id)
    .where(_F.fingerprint == bindparam("fingerprint"), _I.status.in_(OPEN_STATUSES))
    .order_by(_I.id)
)
_MARK_RESOLVED = (
    update(table(IncidentFingerprint))
    .where(
        _F.incident_id == bindparam("incident"),
        _F.fingerprint == bindparam("fp"),
        _F.resolved.is_(False),
    )
    .values(resolved=True)
    .returning(_F.fingerprint)
)
_UNRESOLVED = select(func.count()).where(
    _F.incident_id == bindparam("incident"), _F.resolved.is_(False)
)
_RESOLVE_INCIDENT = (
    update(table(Incident))
    .where(_I.id == bindparam("incident"), _I.status == LIVE)
    .values(status=RESOLVED, resolved_at=bindparam("at"))
    .returning(_I.id)
)
# Two workers resolving fingerprints of one incident at once take turns on its row,
# so the second counts the first's resolved fingerprint and sees its new status.
_LOCK_INCIDENT = select(_I.status).where(_I.id == bindparam("incident")).with_for_update()
_REPORTS = table(StoredReport)
_SET_REPORT_INCIDENT = (
    update(_REPORTS)
    .where(_REPORTS.c.id == bindparam("report"))
    .values(incident_id=bindparam("incident"))
)


def signal_of(report: Report) -> str | None:
    """RESOLVE or ACKNOWLEDGE when the report is its source saying so, else None."""
    fields = report.fields
    if report.source == "sentry":
        resolved = fields.get("action") == "resolved"
        if resolved and fields.get("resource") in ("issue", "metric_alert"):
            return RESOLVE
    elif report.source == "alertmanager":
        if fields.get("status") == "resolved":
            return RESOLVE
    elif report.source == "events":
        return {"resolve": RESOLVE, "acknowledge": ACKNOWLEDGE}.get(fields.get("action") or "")
    return None


def apply(
    session: Session, report_id: int, report: Report, signal: str, mode: str, at: datetime
) -> list[int]:
    """Record the signal on the open incidents holding the report's fingerprint; their ids."""
    if not report.fingerprint:
        return []
    connection = session.connection()
    holders = connection.execute(_OPEN_HOLDERS, {"fingerprint": report.fingerprint}).all()
    for incident_id, status in holders:
        connection.execute(_SET_REPORT_INCIDENT, {"report": report_id, "incident": incident_id})
        kind = "source_resolved" if signal == RESOLVE else "source_acknowledged"
        writes.record_event(
            session,
            incident_id,
            kind,
            ACTOR,
            f"{report.source} says {report.fingerprint} is {signal}",
            at,
            report_id=report_id,
            fingerprint=report.fingerprint,
        )
        if signal == RESOLVE:
            key = {"incident": incident_id, "fp": report.fingerprint}
            status = connection.execute(_LOCK_INCIDENT, {"incident": incident_id}).scalar_one()
            connection.execute(_MARK_RESOLVED, key)
            still_open = status in OPEN_STATUSES
            if (
                still_open
                and connection.execute(_UNRESOLVED, {"incident": incident_id}).scalar_one() == 0
            ):
                _all_resolved(session, incident_id, status, mode, at)
    return [incident_id for incident_id, _ in holders]


def _unresolved(connection: Connection, incident_id: int) -> int:
    return int(connection.execute(_UNRESOLVED, {"incident": incident_id}).scalar_one())


def _all_resolved(session: Session, incident_id: int, status: str, mode: str, at: datetime) -> None:
    reason = "every source of this incident says it is resolved"
    if mode == "resolve" and status == LIVE:
        changed = session.connection().execute(
            _RESOLVE_INCIDENT, {"incident": incident_id, "at": at}
        )
        if changed.first() is not None:  # only the transaction that resolved it says so
            writes.record_event(
                session, incident_id, "status_changed", ACTOR, reason, at, status=RESOLVED
            )
    else:
        writes.record_event(session, incident_id, "resolution_suggested", ACTOR, reason, at)
