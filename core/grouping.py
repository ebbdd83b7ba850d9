"""Grouping: put a triaged report into the incident it belongs to, or open one.

A report finds its incident, in this order, by an `[INC-<n>]` tag in its
title, by the report it replies to, or by its fingerprint within the rolling
window. `incident` reports open a live incident (or one in triage, by
config); `needs_review` reports open one in triage for a person; other
reports never open incidents but do join one they clearly belong to (a reply
in the incident's thread). A resolved incident is never reopened: a new one
is opened and linked to it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import GroupingConfig
from core.lifecycle import attach_report, open_incident
from core.models import (
    CLOSED,
    LIVE,
    OPEN_STATUSES,
    RESOLVED,
    TRIAGE,
    Incident,
    IncidentFingerprint,
    StoredReport,
)

_TAG = re.compile(r"\[INC-(\d+)\]", re.IGNORECASE)
ACTOR = "rule:grouping"


def _tagged(session: Session, report: StoredReport) -> Incident | None:
    match = _TAG.search(report.title)
    if not match:
        return None
    return session.get(Incident, int(match.group(1)))


def _parent(session: Session, report: StoredReport) -> Incident | None:
    """The incident of the report this one answers (an email reply, a chat reply)."""
    keys = [k for k in (report.in_reply_to, *reversed(report.references)) if k]
    for key in keys[:20]:
        parent = session.scalar(
            select(StoredReport)
            .where(
                StoredReport.message_id == key,
                StoredReport.source == report.source,
                StoredReport.incident_id.is_not(None),
            )
            .order_by(StoredReport.id.desc())
            .limit(1)
        )
        if parent is not None:
            return parent.incident
    return None


def _by_fingerprint(
    session: Session, fingerprint: str, since: datetime
) -> tuple[Incident | None, Incident | None]:
    """(an open incident holding the fingerprint, the latest finished one)."""
    rows = session.scalars(
        select(IncidentFingerprint)
        .where(IncidentFingerprint.fingerprint == fingerprint)
        .order_by(IncidentFingerprint.last_seen_at.desc())
        .limit(10)
    ).all()
    finished = None
    for row in rows:
        incident = row.incident
        if incident.status in OPEN_STATUSES and row.last_seen_at >= since:
            return incident, None
        if incident.status in (RESOLVED, CLOSED) and finished is None:
            finished = incident
    return None, finished


def _follow_merges(session: Session, incident: Incident) -> Incident:
    for _ in range(20):
        if incident.merged_into_id is None:
            break
        merged = session.get(Incident, incident.merged_into_id)
        if merged is None:
            break
        incident = merged
    return incident


def place(session: Session, report: StoredReport, config: GroupingConfig, at: datetime) -> None:
    """Attach the report to its incident, open one, or leave it a plain report."""
    if report.set_aside:
        return
    since = at - timedelta(hours=config.window_hours)
    target = _tagged(session, report)
    why = "tagged with its ref in the subject"
    if target is None:
        target = _parent(session, report)
        why = "a reply to a report of this incident"
    finished = None
    if target is None and report.fingerprint:
        target, finished = _by_fingerprint(session, report.fingerprint, since)
        why = f"same fingerprint {report.fingerprint}"
    if target is not None:
        target = _follow_merges(session, target)
    if target is not None and target.status in OPEN_STATUSES:
        attach_report(session, target, report, ACTOR, why, at=at)
        return
    if target is not None and finished is None and target.status in (RESOLVED, CLOSED):
        finished = target
    if report.decision == "not_incident":
        return
    status = LIVE if report.decision == "incident" and config.auto_live else TRIAGE
    incident = open_incident(
        session,
        report.title,
        actor="rule:triage",
        reason=report.reason,
        status=status,
        severity=report.severity,
        types=list(report.types),
        quadrant=report.quadrant,
        at=at,
        follows=finished,
    )
    attach_report(session, incident, report, ACTOR, "opened the incident", at=at)
