"""The seam to notifications: the outbox, dead letters, re-send and digest preview.

Notifications are another area's tables (core/models_notify.py). This module
looks for an outbox table among the models and in the database and, when it
is there, shows its rows by their common columns; when it is not, the pages
say notifications are not set up and the incident page leaves the section out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, inspect, select, update
from sqlalchemy.orm import Session

from core.lifecycle import LifecycleError
from core.models import Base
from core.runtime import Runtime

_OUTBOX_NAMES = ("outbox", "outbox_messages", "notify_outbox")
DEAD_STATES = ("dead", "dead_letter", "failed")


def outbox_table(session: Session) -> Table | None:
    """The outbox table if its model is loaded and the database has it."""
    try:
        import core.models_notify  # noqa: F401  (registers its tables on Base)
    except ImportError:
        return None
    for name in _OUTBOX_NAMES:
        found = Base.metadata.tables.get(name)
        if found is not None and "status" in found.c:
            if inspect(session.connection()).has_table(name):
                return found
            return None
    return None


def _row(row: Any, columns: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    return {
        "id": data.get("id"),
        "channel": data.get("channel", ""),
        "recipient": data.get("recipient") or data.get("address") or data.get("to", ""),
        "status": data.get("status", ""),
        "attempts": data.get("attempts", 0),
        "error": data.get("last_error") or data.get("error") or "",
        "subject": data.get("subject") or data.get("kind") or "",
        "incident_id": data.get("incident_id"),
        "created_at": data.get("created_at"),
    }


def for_incident(session: Session, incident_id: int) -> list[dict[str, Any]] | None:
    """The incident's notifications with their delivery state (None: no outbox here)."""
    outbox = outbox_table(session)
    if outbox is None or "incident_id" not in outbox.c:
        return None
    rows = session.execute(
        select(outbox).where(outbox.c.incident_id == incident_id).order_by(outbox.c.id)
    )
    return [_row(r, outbox.c) for r in rows]


def outbox_page(session: Session) -> dict[str, Any]:
    outbox = outbox_table(session)
    if outbox is None:
        return {"installed": False, "pending": [], "dead": []}
    rows = [
        _row(r, outbox.c)
        for r in session.execute(select(outbox).order_by(outbox.c.id.desc()).limit(500))
    ]
    return {
        "installed": True,
        "pending": [r for r in rows if r["status"] not in DEAD_STATES],
        "dead": [r for r in rows if r["status"] in DEAD_STATES],
    }


def resend(session: Session, message_id: int, actor: str) -> str:
    outbox = outbox_table(session)
    if outbox is None:
        raise LifecycleError("notifications are not set up: there is no outbox to re-send from")
    values: dict[str, Any] = {"status": "pending"}
    for column, value in (("attempts", 0), ("next_attempt_at", None), ("last_error", None)):
        if column in outbox.c:
            values[column] = value
    done = session.execute(
        update(outbox).where(outbox.c.id == message_id).values(**values).returning(outbox.c.id)
    ).first()
    if done is None:
        raise LifecycleError(f"outbox message {message_id} does not exist")
    return f"outbox message {message_id} queued again by {actor}"


def digest_page(session: Session, rt: Runtime, audience: str) -> dict[str, Any]:
    """Audiences and a preview of one's digest, when notifications provide a renderer."""
    try:
        from notify import digest  # type: ignore[attr-defined]
    except ImportError:
        return {"installed": False, "audiences": [], "audience": audience, "preview": None}
    audiences = list(getattr(digest, "audience_names", lambda rt: [])(rt))
    preview = None
    if audience in audiences and hasattr(digest, "preview"):
        preview = digest.preview(session, rt, audience)
    return {"installed": True, "audiences": audiences, "audience": audience, "preview": preview}
