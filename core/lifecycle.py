"""Incident lifecycle: every change is a service function that writes a timeline event.

Status moves: triage -> live | declined | merged; live -> resolved | merged;
resolved -> closed. Anything else is refused with a clear error.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import incident_writes as writes
from core.models import (
    CLOSED,
    DECLINED,
    LIVE,
    MERGED,
    OPEN_STATUSES,
    RESOLVED,
    TRIAGE,
    Incident,
    StoredReport,
    VerdictChange,
    now,
)
from core.triage.verdict import QUESTIONS, SEVERITIES, TYPES


class LifecycleError(Exception):
    """An operation that does not apply: unknown ref, invalid transition, bad value."""


_ALLOWED = {
    "accept": {TRIAGE},
    "decline": {TRIAGE},
    "merge": {TRIAGE, LIVE},
    "resolve": {LIVE},
    "close": {RESOLVED},
}
# Up to 18 digits: any real ref, and never more than a database integer holds.
_REF = re.compile(r"^(?:INC-)?(\d{1,18})$", re.IGNORECASE)


def parse_ref(ref: str) -> int:
    match = _REF.match(ref.strip())
    if not match:
        raise LifecycleError(f"{ref!r} is not an incident reference (expected INC-<n>)")
    return int(match.group(1))


def get_incident(session: Session, ref: str | int, lock: bool = False) -> Incident:
    incident_id = ref if isinstance(ref, int) else parse_ref(ref)
    query = select(Incident).where(Incident.id == incident_id)
    if lock:
        query = query.with_for_update()
    incident = session.scalar(query)
    if incident is None:
        raise LifecycleError(f"INC-{incident_id} does not exist")
    return incident


def record(
    session: Session,
    incident: Incident,
    kind: str,
    actor: str,
    reason: str = "",
    at: datetime | None = None,
    **data: Any,
) -> None:
    at = at or now()
    writes.record_event(session, incident.id, kind, actor, reason, at, **data)
    incident.last_activity_at = at


def _check(incident: Incident, operation: str) -> None:
    if incident.status not in _ALLOWED[operation]:
        allowed = " or ".join(sorted(_ALLOWED[operation]))
        raise LifecycleError(
            f"cannot {operation} {incident.ref}: it is {incident.status} (must be {allowed})"
        )


def open_incident(
    session: Session,
    title: str,
    actor: str,
    reason: str,
    status: str = LIVE,
    severity: str = "SEV3",
    types: list[str] | None = None,
    quadrant: str = "incident_response",
) -> Incident:
    incident_id = writes.open_incident(
        session, title, actor, reason, status, severity, list(types or []), quadrant, now()
    )
    return get_incident(session, incident_id)


def attach_report(
    session: Session, incident: Incident, report: StoredReport, actor: str, reason: str
) -> None:
    writes.attach_report(session, incident.id, report.id, report.fingerprint, actor, reason, now())


def declare(
    session: Session,
    actor: str,
    title: str | None = None,
    report_id: int | None = None,
    reason: str = "",
    severity: str | None = None,
) -> Incident:
    """Declare an incident by hand: from a report, or from scratch with a title."""
    report = None
    if report_id is not None:
        report = session.get(StoredReport, report_id)
        if report is None:
            raise LifecycleError(f"report {report_id} does not exist")
        if report.incident is not None and report.incident.status in OPEN_STATUSES:
            raise LifecycleError(f"report {report_id} already belongs to {report.incident.ref}")
    if not (title or report):
        raise LifecycleError("declare needs a title or a report")
    if severity is not None:
        _valid_severity(severity)
    incident = open_incident(
        session,
        title or (report.title if report else ""),
        actor,
        reason or f"declared by {actor}",
        status=LIVE,
        severity=severity or (report.severity if report else "SEV3"),
        types=list(report.types) if report else [],
    )
    if report is not None:
        attach_report(session, incident, report, actor, "declared from this report")
    return incident


def accept(session: Session, ref: str, actor: str, reason: str = "") -> Incident:
    incident = get_incident(session, ref, lock=True)
    _check(incident, "accept")
    incident.status = LIVE
    record(session, incident, "status_changed", actor, reason or "accepted", status=LIVE)
    return incident


def decline(session: Session, ref: str, actor: str, reason: str) -> Incident:
    if not reason.strip():
        raise LifecycleError("declining needs a reason")
    incident = get_incident(session, ref, lock=True)
    _check(incident, "decline")
    incident.status = DECLINED
    incident.decline_reason = reason
    record(session, incident, "status_changed", actor, reason, status=DECLINED)
    return incident


def merge(session: Session, ref: str, into: str, actor: str, reason: str = "") -> Incident:
    source = get_incident(session, ref, lock=True)
    target = get_incident(session, into, lock=True)
    if source.id == target.id:
        raise LifecycleError(f"cannot merge {source.ref} into itself")
    if target.status not in OPEN_STATUSES:
        raise LifecycleError(f"cannot merge into {target.ref}: it is {target.status}")
    _check(source, "merge")
    for report in list(source.reports):
        attach_report(session, target, report, actor, f"merged from {source.ref}")
    source.status = MERGED
    source.merged_into_id = target.id
    record(session, source, "merged", actor, reason or f"merged into {target.ref}", into=target.ref)
    record(
        session, target, "merged_in", actor, reason or f"{source.ref} merged in", source=source.ref
    )
    return target


def resolve(session: Session, ref: str, actor: str, reason: str = "") -> Incident:
    incident = get_incident(session, ref, lock=True)
    _check(incident, "resolve")
    incident.status = RESOLVED
    incident.resolved_at = now()
    record(session, incident, "status_changed", actor, reason or "resolved", status=RESOLVED)
    return incident


def close(session: Session, ref: str, actor: str, reason: str = "") -> Incident:
    incident = get_incident(session, ref, lock=True)
    _check(incident, "close")
    incident.status = CLOSED
    incident.closed_at = now()
    record(session, incident, "status_changed", actor, reason or "closed", status=CLOSED)
    return incident


def _valid_severity(severity: str) -> str:
    if severity not in SEVERITIES:
        raise LifecycleError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    return severity


def set_severity(
    session: Session, ref: str, severity: str, actor: str, reason: str = ""
) -> Incident:
    incident = get_incident(session, ref, lock=True)
    _valid_severity(severity)
    if incident.status in (MERGED, CLOSED, DECLINED):
        raise LifecycleError(f"cannot change {incident.ref}: it is {incident.status}")
    old, incident.severity = incident.severity, severity
    record(session, incident, "severity_changed", actor, reason, old=old, new=severity)
    return incident


def set_types(
    session: Session, ref: str, types: list[str], actor: str, reason: str = ""
) -> Incident:
    incident = get_incident(session, ref, lock=True)
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        raise LifecycleError(f"unknown incident type {unknown[0]!r} (use {', '.join(TYPES)})")
    old, incident.types = list(incident.types), list(types)
    record(session, incident, "types_changed", actor, reason, old=old, new=list(types))
    return incident


def post_update(session: Session, ref: str, text: str, actor: str) -> None:
    """A stakeholder update: human-written text about the incident."""
    if not text.strip():
        raise LifecycleError("an update needs text")
    incident = get_incident(session, ref, lock=True)
    if incident.status in (MERGED, DECLINED):
        raise LifecycleError(f"cannot post an update to {incident.ref}: it is {incident.status}")
    record(session, incident, "update_posted", actor, text, status=incident.status)


def override(
    session: Session, report_id: int, field: str, value: str | None, actor: str, reason: str = ""
) -> VerdictChange:
    """A person's answer replaces triage's for one question or the decision, as a new row."""
    report = session.get(StoredReport, report_id)
    if report is None:
        raise LifecycleError(f"report {report_id} does not exist")
    if field == "decision":
        if value not in ("incident", "not_incident", "needs_review"):
            raise LifecycleError(
                f"decision {value!r} is not incident, not_incident or needs_review"
            )
        old: str | None = report.decision
    elif field in QUESTIONS:
        if value not in ("yes", "no", None):
            raise LifecycleError(f"answer {value!r} must be yes, no or unknown")
        old = _answer_text(report.golden.get(field, {}).get("answer"))
    else:
        raise LifecycleError(f"cannot override {field!r}: use decision or one of {QUESTIONS}")
    if field == "decision":
        report.decision = str(value)
    else:
        answer = {"yes": True, "no": False, None: None}[value]
        evidence = [f"answered {value or 'unknown'} by {actor}" + (f": {reason}" if reason else "")]
        report.golden = {**report.golden, field: {"answer": answer, "evidence": evidence}}
    row = VerdictChange(
        report=report, field=field, old_value=old, new_value=value, actor=actor, reason=reason
    )
    session.add(row)
    if report.incident is not None:
        record(
            session,
            report.incident,
            "override",
            actor,
            reason,
            report_id=report.id,
            field=field,
            old=old,
            new=value,
        )
    return row


def _answer_text(answer: object) -> str | None:
    return {True: "yes", False: "no"}.get(answer)  # type: ignore[call-overload]
