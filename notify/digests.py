"""Digests: where things stand for one audience, built from the database and sent once per period.

A period runs from one scheduled time of the audience's cron (in its time
zone) to the next. Sending claims the row (audience, period start) in
`digest_runs` and queues the outbox rows in the same transaction; a second
scheduler (another process, or a restart catching up) fails to claim it and
sends nothing.
"""

from __future__ import annotations

import zoneinfo
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.config_notify import Audience
from core.db import transaction
from core.models import OPEN_STATUSES, TRIAGE, Incident, StoredReport, TimelineEvent, now
from core.models_notify import DigestRun, OutboxMessage
from core.outbox import INSERT_OUTBOX, base_url, rows_for
from core.runtime import Runtime
from core.triage.verdict import SEVERITIES
from notify.render import Renderer
from notify.samples import template_context

_QUADRANTS = ("incident_response", "hotfix", "normal_work", "backlog")
_LOOKBACK = (timedelta(hours=2), timedelta(days=2), timedelta(days=40), timedelta(days=400))


def trigger(audience: Audience) -> CronTrigger:
    assert audience.digest is not None
    zone = zoneinfo.ZoneInfo(audience.digest.timezone)
    return CronTrigger.from_crontab(audience.digest.cron, timezone=zone)


def fire_times(audience: Audience, start: datetime, end: datetime) -> list[datetime]:
    """Scheduled times in [start, end), as aware datetimes in the audience's zone.

    The cron runs on the wall clock: its times are worked out without a zone
    and then placed in the audience's zone (fold 0). A wall-clock time that
    occurs twice (the hour repeated when summer time ends) so fires once, at
    its first occurrence; a time in the hour skipped when summer time starts
    fires an hour later by the clock, and never twice. (APScheduler's own
    zone-aware CronTrigger can step backwards inside the repeated hour.)
    """
    assert audience.digest is not None
    zone = zoneinfo.ZoneInfo(audience.digest.timezone)
    wall = CronTrigger.from_crontab(audience.digest.cron, timezone=UTC)
    margin = timedelta(hours=3)
    moment = start.astimezone(zone).replace(tzinfo=UTC) - margin
    last_wall = end.astimezone(zone).replace(tzinfo=UTC) + margin
    times: list[datetime] = []
    while True:
        fire = wall.get_next_fire_time(None, moment)
        if fire is None or fire > last_wall:
            return times
        moment = fire + timedelta(microseconds=1)
        local = fire.replace(tzinfo=zone, fold=0)
        at = local.astimezone(UTC)
        if at < start or (times and at <= times[-1]):
            continue
        if at >= end:
            return times
        times.append(at.astimezone(zone))


def latest_fire(audience: Audience, at: datetime) -> datetime | None:
    """The last scheduled time at or before `at`."""
    for span in _LOOKBACK:
        times = fire_times(audience, at - span, at + timedelta(microseconds=1))
        if times:
            return times[-1]
    return None


def period_for(audience: Audience, fire: datetime) -> tuple[datetime, datetime]:
    """(start, end) of the period a digest sent at `fire` covers: since the previous fire."""
    start = latest_fire(audience, fire - timedelta(microseconds=1))
    return (start or fire - timedelta(days=1)), fire


def build(
    session: Session, audience: Audience, start: datetime, end: datetime, base: str
) -> dict[str, Any]:
    """The digest's content for the period, as plain JSON values.

    Every incident is counted; only the first `max_listed` of each section are
    turned into entries (with their latest update), which keeps a digest over
    tens of thousands of incidents fast and readable.
    """
    options = audience.digest
    zone = zoneinfo.ZoneInfo(options.timezone if options else "UTC")
    top_n = options.top_sources if options else 5
    listed = options.max_listed if options else 25
    include_resolved = options.include_resolved if options else True
    columns = [
        Incident.id,
        Incident.title,
        Incident.status,
        Incident.severity,
        Incident.opened_at,
        Incident.resolved_at,
    ]
    if audience.types:
        columns.append(Incident.types)  # JSON: read only when a filter needs it
    rows = session.execute(
        select(*columns).where(
            (Incident.status.in_(OPEN_STATUSES))
            | ((Incident.opened_at > start) & (Incident.opened_at <= end))
            | ((Incident.resolved_at > start) & (Incident.resolved_at <= end))
        )
    ).all()
    sources = _sources(session) if audience.sources else {}
    rows = [
        row
        for row in rows
        if audience.wants(
            row.severity,
            list(row.types) if audience.types else [],
            sorted(sources.get(row.id, ())),
        )
    ]
    open_rows = sorted((r for r in rows if r.status in OPEN_STATUSES), key=lambda r: r.opened_at)
    new = sorted((r for r in rows if start < r.opened_at <= end), key=lambda r: r.opened_at)
    resolved = [
        r
        for r in rows
        if include_resolved and r.resolved_at is not None and start < r.resolved_at <= end
    ]
    triage = [r for r in open_rows if r.status == TRIAGE]
    groups = [(sev, [r for r in open_rows if r.severity == sev]) for sev in SEVERITIES]
    shown = {r.id for part in (new, resolved, triage) for r in part[:listed]}
    shown |= {r.id for _, group in groups for r in group[:listed]}
    updates = _last_updates(session, sorted(shown))

    def entry(row: Any) -> dict[str, Any]:
        ref = f"INC-{row.id}"
        return {
            "ref": ref,
            "title": row.title,
            "status": row.status,
            "severity": row.severity,
            "age_seconds": int((end - row.opened_at).total_seconds()),
            "last_update": updates.get(row.id, ""),
            "url": f"{base}/incidents/{ref}",
        }

    quadrants = dict.fromkeys(_QUADRANTS, 0)
    source_counts: Counter[str] = Counter()
    for quadrant, source, count in session.execute(
        select(StoredReport.quadrant, StoredReport.source, func.count())
        .where(StoredReport.created_at > start, StoredReport.created_at <= end)
        .group_by(StoredReport.quadrant, StoredReport.source)
    ):
        if quadrant in quadrants:
            quadrants[quadrant] += count
        source_counts[source] += count
    return {
        "audience": audience.name,
        "timezone": str(zone),
        "period_start": start.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "period_end": end.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "new": [entry(r) for r in new[:listed]],
        "new_count": len(new),
        "open_by_severity": [
            {"severity": sev, "count": len(group), "incidents": [entry(r) for r in group[:listed]]}
            for sev, group in groups
            if group
        ],
        "open_count": len(open_rows),
        "resolved": [entry(r) for r in resolved[:listed]],
        "resolved_count": len(resolved),
        "triage": [entry(r) for r in triage[:listed]],
        "triage_count": len(triage),
        "quadrants": quadrants,
        "quadrant_max": max(quadrants.values()),
        "reports": sum(quadrants.values()),
        "top_sources": [{"source": s, "count": c} for s, c in source_counts.most_common(top_n)],
        "url": f"{base}/incidents",
    }


def _sources(session: Session) -> dict[int, set[str]]:
    """The sources of each incident's reports (for an audience's sources filter)."""
    found: dict[int, set[str]] = {}
    for incident_id, source in session.execute(
        select(StoredReport.incident_id, StoredReport.source)
        .where(StoredReport.incident_id.is_not(None))
        .distinct()
    ):
        found.setdefault(int(incident_id or 0), set()).add(source)
    return found


def _last_updates(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    latest = (
        select(func.max(TimelineEvent.id))
        .where(TimelineEvent.kind == "update_posted", TimelineEvent.incident_id.in_(ids))
        .group_by(TimelineEvent.incident_id)
    )
    rows = session.execute(
        select(TimelineEvent.incident_id, TimelineEvent.reason).where(TimelineEvent.id.in_(latest))
    )
    return {incident_id: reason[:300] for incident_id, reason in rows}


def _context(digest: dict[str, Any]) -> dict[str, Any]:
    return {"digest": digest}


def render_text(renderer: Renderer, digest: dict[str, Any]) -> str:
    rendered = renderer.message("email", "digest", template_context("digest", "", _context(digest)))
    return f"Subject: {rendered.subject}\n\n{rendered.text}"


def dry_run(rt: Runtime, audience: Audience, at: datetime | None = None) -> str:
    """The digest as it would be sent now, for the period since the last scheduled time."""
    at = at or now()
    start = (latest_fire(audience, at) if audience.digest else None) or at - timedelta(days=1)
    with rt.factory() as session:
        digest = build(session, audience, start, at, base_url(rt.config))
    return render_text(Renderer(rt.config.notify.templates_folder), digest)


def claim_and_queue(
    rt: Runtime,
    audience: Audience,
    start: datetime,
    end: datetime,
    claimed_by: str = "",
) -> int | None:
    """Claim (audience, period start) and queue the digest; None if it was already claimed."""
    try:
        with transaction(rt.factory) as session:
            session.add(
                DigestRun(
                    audience=audience.name,
                    period_start=start,
                    claimed_at=now(),
                    claimed_by=claimed_by,
                )
            )
            session.flush()  # the unique row: a second claimer fails here, before any work
            digest = build(session, audience, start, end, base_url(rt.config))
            rows = rows_for(audience, "digest", None, _context(digest), now())
            if rows:
                session.connection().execute(INSERT_OUTBOX, rows)
            return len(rows)
    except IntegrityError:
        return None


def send_now(rt: Runtime, audience: Audience) -> int:
    """`intake digest NAME --send`: a digest for the period up to now, outside the schedule."""
    at = now()
    start = (latest_fire(audience, at) if audience.digest else None) or at - timedelta(days=1)
    with rt.factory() as session:
        digest = build(session, audience, start, at, base_url(rt.config))
        rows = rows_for(audience, "digest", None, _context(digest), at)
    with transaction(rt.factory) as session:
        if rows:
            session.connection().execute(INSERT_OUTBOX, rows)
    return len(rows)


def run_due(rt: Runtime, audience: Audience, at: datetime, claimed_by: str = "") -> int | None:
    """Send the digest of the latest scheduled time if it is within the grace period.

    Called on every scheduled time and once at start: a digest missed while the
    service was down goes out once, late; one older than the grace period is skipped.
    """
    if audience.digest is None:
        return None
    fire = latest_fire(audience, at)
    if fire is None or at - fire > timedelta(minutes=audience.digest.grace_minutes):
        return None
    start, end = period_for(audience, fire)
    return claim_and_queue(rt, audience, start.astimezone(UTC), end.astimezone(UTC), claimed_by)


def outbox_digest_rows(rt: Runtime, audience: str) -> list[OutboxMessage]:
    with rt.factory() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "digest", OutboxMessage.audience == audience)
                .order_by(OutboxMessage.id)
            )
        )
