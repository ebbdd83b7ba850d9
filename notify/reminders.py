"""Update reminders: a live incident without a stakeholder update for too long nudges its chat.

The wait depends on severity (`[reminders]`, defaults SEV1 30 min, SEV2 60,
SEV3 240, SEV4 never), counted from the latest update, or from the opening
when there is none, or from the previous reminder, so a silent incident is
reminded once per wait and not on every check. Posting an update or
resolving the incident stops the reminders. They go to the Telegram chats of
the audiences whose filters match the incident.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from core.config_notify import Audience
from core.db import is_postgres, transaction
from core.models import LIVE, Incident, TimelineEvent, now
from core.models_notify import OutboxMessage
from core.outbox import INSERT_OUTBOX, base_url, row, snapshot
from core.runtime import Runtime


def _chat_audiences(rt: Runtime) -> tuple[Audience, ...]:
    return tuple(a for a in rt.config.notify.audiences if a.telegram)


def _last(rt: Runtime) -> dict[int, datetime]:
    """Per live incident: the latest of opening, update and reminder."""
    with rt.factory() as session:
        latest = {
            row.id: row.opened_at
            for row in session.execute(
                select(Incident.id, Incident.opened_at).where(Incident.status == LIVE)
            )
        }
        updates = session.execute(
            select(TimelineEvent.incident_id, func.max(TimelineEvent.at))
            .where(TimelineEvent.kind == "update_posted")
            .group_by(TimelineEvent.incident_id)
        )
        reminders = session.execute(
            select(OutboxMessage.incident_id, func.max(OutboxMessage.created_at))
            .where(OutboxMessage.kind == "reminder")
            .group_by(OutboxMessage.incident_id)
        )
        for incident_id, at in [*updates, *reminders]:
            if incident_id in latest and at is not None and at > latest[incident_id]:
                latest[incident_id] = at
    return latest


def send_due(rt: Runtime, at: datetime | None = None) -> int:
    """Queue reminders for incidents past their wait; returns how many rows were queued."""
    at = at or now()
    audiences = _chat_audiences(rt)
    minutes = rt.config.notify.reminders
    if not audiences or not any(minutes.values()):
        return 0
    queued = 0
    with rt.factory() as session:
        severities = {
            row.id: row.severity
            for row in session.execute(
                select(Incident.id, Incident.severity).where(Incident.status == LIVE)
            )
        }
    for incident_id, since in _last(rt).items():
        wait = minutes.get(severities.get(incident_id, ""), 0)
        if not wait or at - since < timedelta(minutes=wait):
            continue
        queued += _remind(rt, incident_id, wait, since, at, audiences)
    return queued


def _remind(
    rt: Runtime,
    incident_id: int,
    wait: int,
    since: datetime,
    at: datetime,
    audiences: tuple[Audience, ...],
) -> int:
    with transaction(rt.factory) as session:
        query = select(Incident.status).where(Incident.id == incident_id)
        if is_postgres(rt.engine):
            query = query.with_for_update()  # two schedulers: the second waits, then sees ours
        if session.scalar(query) != LIVE:
            return 0
        newest = session.scalar(
            select(func.max(OutboxMessage.created_at)).where(
                OutboxMessage.incident_id == incident_id, OutboxMessage.kind == "reminder"
            )
        )
        if newest is not None and at - newest < timedelta(minutes=wait):
            return 0  # another scheduler reminded meanwhile
        context = snapshot(session, incident_id, base_url(rt.config))
        if context is None:
            return 0
        context["reminder"] = {"minutes": wait, "since": since.isoformat()}
        rows = [
            row("reminder", incident_id, a.name, "telegram", str(chat), context, at)
            for a in audiences
            if a.wants(context["severity"], context["types"], context["sources"])
            for chat in a.telegram
        ]
        if rows:
            session.connection().execute(INSERT_OUTBOX, rows)
        return len(rows)
