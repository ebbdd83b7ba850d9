"""Notifications on the dashboard: delivery state per incident, the outbox, dead letters, re-send,
and a digest preview per audience (the notifications area renders it; the web app only shows it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.lifecycle import LifecycleError
from core.models import now
from core.models_notify import DEAD, PENDING, OutboxMessage
from core.runtime import Runtime

OUTBOX_PAGE = 200


def for_incident(session: Session, incident_id: int) -> list[OutboxMessage]:
    """The incident's notifications with their delivery state, oldest first."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.incident_id == incident_id)
            .order_by(OutboxMessage.id)
        ).all()
    )


def outbox_page(session: Session) -> dict[str, Any]:
    def rows(*states: str, newest: bool = True) -> list[OutboxMessage]:
        order = OutboxMessage.id.desc() if newest else OutboxMessage.id
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.state.in_(states))
                .order_by(order)
                .limit(OUTBOX_PAGE)
            ).all()
        )

    counts = dict(
        session.execute(
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
        ).all()
    )
    return {
        "dead": rows(DEAD),
        "pending": rows(PENDING, newest=False),
        "sent": rows("sent"),
        "counts": counts,
    }


def resend(session: Session, message_id: int, actor: str) -> str:
    """Back in the queue with a fresh attempt count (what `intake outbox resend` does)."""
    done = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(state=PENDING, attempts=0, next_attempt_at=now(), last_error=None)
        .returning(OutboxMessage.id)
    ).first()
    if done is None:
        raise LifecycleError(f"outbox message {message_id} does not exist")
    return f"outbox message {message_id} queued again"


def digest_page(session: Session, rt: Runtime, audience: str) -> dict[str, Any]:
    names = [a.name for a in rt.config.notify.audiences]
    chosen = rt.config.notify.audience(audience) if audience else None
    preview = None
    if chosen is not None:
        from notify.digests import dry_run

        preview = dry_run(rt, chosen)
    return {"audiences": names, "audience": audience, "preview": preview}
