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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from core import incident_writes as writes
from core.config import GroupingConfig
from core.models import (
    CLOSED,
    LIVE,
    OPEN_STATUSES,
    RESOLVED,
    TRIAGE,
    Incident,
    IncidentFingerprint,
    StoredReport,
    table,
)

_TAG = re.compile(r"\[INC-(\d+)\]", re.IGNORECASE)
_FINISHED = (RESOLVED, CLOSED)
ACTOR = "rule:grouping"
_R = table(StoredReport).c
_F = table(IncidentFingerprint).c
_I = table(Incident).c
_PARENT = (
    select(_R.incident_id)
    .where(
        _R.message_id.in_(bindparam("keys", expanding=True)),
        _R.source == bindparam("source"),
        _R.incident_id.is_not(None),
    )
    .order_by(_R.id.desc())
    .limit(1)
)
_BY_FINGERPRINT = (
    select(_F.incident_id, _F.last_seen_at, _I.status, _I.merged_into_id)
    .join(table(Incident), _I.id == _F.incident_id)
    .where(_F.fingerprint == bindparam("fingerprint"))
    .order_by(_F.last_seen_at.desc())
    .limit(10)
)


class Contended(Exception):
    """Another worker is opening an incident for this fingerprint; retry after it commits."""


_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))")


def _claim_fingerprint(session: Session, fingerprint: str) -> bool:
    """Become the one transaction that may open an incident for `fingerprint`.

    PostgreSQL workers claim reports with SKIP LOCKED, so two of them can hold
    reports of the same new fingerprint at once: a transaction-scoped advisory
    lock makes opening race-free. It is only tried, never waited for (a worker
    holds its locks until its batch commits, and waiting could deadlock two
    batches), and the loser raises Contended to leave its message pending.
    True when the lock was taken now (look again: the holder may have just
    committed); SQLite serialises writing transactions, so there it is False.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return False
    if not connection.execute(_TRY_LOCK, {"key": f"fingerprint:{fingerprint}"}).scalar():
        raise Contended(fingerprint)
    return True


@dataclass(frozen=True)
class Placing:
    """What grouping needs to know about a freshly stored report."""

    id: int
    source: str
    title: str
    in_reply_to: str
    references: list[str]
    fingerprint: str
    decision: str
    severity: str
    types: list[str]
    quadrant: str
    reason: str
    set_aside: str | None


@dataclass(frozen=True)
class Target:
    id: int
    status: str
    why: str


def _follow_merges(session: Session, incident_id: int, why: str) -> Target | None:
    for _ in range(20):
        state = writes.incident_state(session, incident_id)
        if state is None:
            return None
        status, merged_into = state
        if merged_into is None:
            return Target(incident_id, status, why)
        incident_id = merged_into
    return None


def _tagged(session: Session, report: Placing) -> Target | None:
    match = _TAG.search(report.title)
    if not match:
        return None
    target = _follow_merges(session, int(match.group(1)), "tagged with its ref in the subject")
    if target is None or report.source != "email":
        return target
    stranger = _not_on_thread(session, report, target.id)
    if stranger is None:
        return target
    # Anyone can type a ref into a subject: keep the mail as its own report on the
    # incident, and say plainly that its sender had not been part of the thread.
    why = (
        f"tagged with its ref in the subject by {stranger}, who is not on the thread "
        "(no earlier report from them, not a reply to one); attached as a separate report"
    )
    return Target(target.id, target.status, why)


_SENDER = select(_R.reporter_address).where(_R.id == bindparam("report"))
_ON_THREAD = (
    select(_R.id)
    .where(
        _R.incident_id == bindparam("incident"),
        _R.id != bindparam("report"),
        func.lower(_R.reporter_address) == bindparam("address"),
    )
    .limit(1)
)


def _not_on_thread(session: Session, report: Placing, incident_id: int) -> str | None:
    """The sender's address when nobody with it has written in this incident before, else None."""
    connection = session.connection()
    row = connection.execute(_SENDER, {"report": report.id}).first()
    address = (row[0] or "").strip().lower() if row else ""
    if not address:
        return None
    parent = _parent(session, report)
    if parent is not None and parent.id == incident_id:
        return None  # a reply to a report of this incident is on the thread
    values = {"incident": incident_id, "report": report.id, "address": address}
    if connection.execute(_ON_THREAD, values).first() is not None:
        return None
    return address


def _parent(session: Session, report: Placing) -> Target | None:
    """The incident of the report this one answers (an email reply, a chat reply)."""
    keys = [k for k in (report.in_reply_to, *report.references[-20:]) if k]
    if not keys:
        return None
    connection = session.connection()
    incident_id = connection.execute(_PARENT, {"keys": keys, "source": report.source}).scalar()
    if incident_id is None:
        return None
    return _follow_merges(session, incident_id, "a reply to a report of this incident")


def _by_fingerprint(
    session: Session, fingerprint: str, since: datetime
) -> tuple[Target | None, Target | None]:
    """(an open incident holding the fingerprint, the latest finished one)."""
    rows = session.connection().execute(_BY_FINGERPRINT, {"fingerprint": fingerprint}).all()
    why = f"same fingerprint {fingerprint}"
    finished = None
    for incident_id, last_seen, status, merged_into in rows:
        if merged_into is not None:
            target = _follow_merges(session, merged_into, why)
            if target is not None and target.status in OPEN_STATUSES and last_seen >= since:
                return target, None
            continue
        if status in OPEN_STATUSES and last_seen >= since:
            return Target(incident_id, status, why), None
        if status in _FINISHED and finished is None:
            finished = Target(incident_id, status, why)
    return None, finished


def place(session: Session, report: Placing, config: GroupingConfig, at: datetime) -> int | None:
    """Attach the report to its incident, open one, or leave it a plain report.

    Returns the incident id the report now belongs to, if any.
    """
    if report.set_aside:
        return None
    target = _tagged(session, report) or _parent(session, report)
    finished = None
    if target is None and report.fingerprint:
        since = at - timedelta(hours=config.window_hours)
        target, finished = _by_fingerprint(session, report.fingerprint, since)
    if target is not None and target.status in OPEN_STATUSES:
        writes.attach_report(
            session, target.id, report.id, report.fingerprint, ACTOR, target.why, at
        )
        return target.id
    if target is not None and target.status in _FINISHED:
        finished = target
    if report.decision == "not_incident":
        return None
    if report.fingerprint and _claim_fingerprint(session, report.fingerprint):
        # Another worker may have opened it since our lookup and committed.
        since = at - timedelta(hours=config.window_hours)
        again, _ = _by_fingerprint(session, report.fingerprint, since)
        if again is not None and again.status in OPEN_STATUSES:
            writes.attach_report(
                session, again.id, report.id, report.fingerprint, ACTOR, again.why, at
            )
            return again.id
    status = LIVE if report.decision == "incident" and config.auto_live else TRIAGE
    incident_id = writes.open_incident(
        session,
        report.title,
        actor="rule:triage",
        reason=report.reason,
        status=status,
        severity=report.severity,
        types=report.types,
        quadrant=report.quadrant,
        at=at,
        follows=(finished.id, finished.status) if finished else None,
    )
    writes.attach_report(
        session, incident_id, report.id, report.fingerprint, ACTOR, "opened the incident", at
    )
    return incident_id
