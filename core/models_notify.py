"""Tables for notifications: the outbox, digest runs, acknowledgements sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, now

# Outbox message states.
PENDING, SENT, DEAD = "pending", "sent", "dead"


class OutboxMessage(Base):
    """One notification to one recipient; written in the transaction that caused it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_incident", "incident_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    # declared, severity_changed, update_posted, resolved, triage_needed, reminder, digest, ack
    kind: Mapped[str] = mapped_column(String(40))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), default=None)
    audience: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(20))  # email, telegram, webhook
    recipient: Mapped[str] = mapped_column(String(2000))
    # What the message says, as it was when the change happened (rendered on delivery).
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    message_id: Mapped[str | None] = mapped_column(String(500), default=None)
    thread_root: Mapped[str | None] = mapped_column(String(500), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class DigestRun(Base):
    """A digest period claimed by one scheduler: the unique row is what makes it exactly once."""

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("audience", "period_start", name="uq_digest_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    audience: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[datetime] = mapped_column()
    claimed_at: Mapped[datetime] = mapped_column(default=now)
    claimed_by: Mapped[str] = mapped_column(String(200), default="")


class AckSent(Base):
    """One acknowledgement per sender per incident, enforced by the database."""

    __tablename__ = "ack_sent"
    __table_args__ = (UniqueConstraint("incident_id", "sender", name="uq_ack_sender"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    sender: Mapped[str] = mapped_column(String(320))
    report_id: Mapped[int | None] = mapped_column(Integer, default=None)
    at: Mapped[datetime] = mapped_column(default=now)
