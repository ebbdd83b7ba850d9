"""Tables: raw messages, reports with their verdicts, incidents and their timelines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in and out on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UTCDateTime,
    }


# Raw message statuses: what the pipeline still has to do with it.
PENDING, PROCESSED, QUARANTINED, PARKED, IGNORED = (
    "pending",
    "processed",
    "quarantined",
    "parked",
    "ignored",
)


class RawMessage(Base):
    """One input exactly as received; the row is committed before the source is acknowledged."""

    __tablename__ = "raw_messages"
    __table_args__ = (
        UniqueConstraint("source", "natural_key", name="uq_raw_natural_key"),
        Index("ix_raw_status_due", "status", "next_attempt_at"),
        Index("ix_raw_content_key", "source", "content_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    natural_key: Mapped[str] = mapped_column(String(500))
    # A second identity (e.g. Message-ID + body hash) that catches the same
    # input arriving under another natural key, such as a mail in two folders.
    content_key: Mapped[str | None] = mapped_column(String(200), default=None)
    received_at: Mapped[datetime] = mapped_column(default=now)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)  # headers, source ids
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)

    reports: Mapped[list[StoredReport]] = relationship(back_populates="raw")


class StoredReport(Base):
    """A candidate report and triage's verdict on it (decisions are data)."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_fingerprint", "fingerprint"),
        Index("ix_reports_message_id", "message_id"),
        Index("ix_reports_created", "created_at"),
        Index("ix_reports_incident", "incident_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    raw_id: Mapped[int] = mapped_column(ForeignKey("raw_messages.id"))
    source: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(String(500), default="")
    reporter_address: Mapped[str] = mapped_column(String(320), default="")
    forwarded_by: Mapped[str] = mapped_column(String(500), default="")
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    message_id: Mapped[str] = mapped_column(String(500), default="")
    in_reply_to: Mapped[str] = mapped_column(String(500), default="")
    references: Mapped[list[Any]] = mapped_column(default=list)
    fingerprint: Mapped[str] = mapped_column(String(500), default="")
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=now)

    # The verdict: every answer with its evidence, and why.
    decision: Mapped[str] = mapped_column(String(20))
    quadrant: Mapped[str] = mapped_column(String(20))
    planned: Mapped[bool] = mapped_column(Boolean)
    urgent: Mapped[bool] = mapped_column(Boolean)
    types: Mapped[list[Any]] = mapped_column(default=list)
    severity: Mapped[str] = mapped_column(String(4))
    golden: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    set_aside: Mapped[str | None] = mapped_column(String(20), default=None)
    triaged_at: Mapped[datetime] = mapped_column(default=now)

    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), default=None)

    raw: Mapped[RawMessage] = relationship(back_populates="reports")
    incident: Mapped[Incident | None] = relationship(back_populates="reports")
    changes: Mapped[list[VerdictChange]] = relationship(
        back_populates="report", order_by="VerdictChange.id"
    )


class VerdictChange(Base):
    """A change to a verdict (an override or a re-triage): a new row, never a silent update."""

    __tablename__ = "verdict_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    field: Mapped[str] = mapped_column(String(20))  # decision, or a golden question
    old_value: Mapped[str | None] = mapped_column(String(40), default=None)
    new_value: Mapped[str | None] = mapped_column(String(40), default=None)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=now)

    report: Mapped[StoredReport] = relationship(back_populates="changes")


# Incident statuses.
TRIAGE, LIVE, RESOLVED, CLOSED, DECLINED, MERGED = (
    "triage",
    "live",
    "resolved",
    "closed",
    "declined",
    "merged",
)
OPEN_STATUSES = (TRIAGE, LIVE)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=TRIAGE)
    severity: Mapped[str] = mapped_column(String(4), default="SEV3")
    types: Mapped[list[Any]] = mapped_column(default=list)
    quadrant: Mapped[str] = mapped_column(String(20), default="incident_response")
    opened_at: Mapped[datetime] = mapped_column(default=now)
    last_activity_at: Mapped[datetime] = mapped_column(default=now)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), default=None)
    follows_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), default=None)
    decline_reason: Mapped[str | None] = mapped_column(Text, default=None)

    reports: Mapped[list[StoredReport]] = relationship(
        back_populates="incident", order_by="StoredReport.id"
    )
    events: Mapped[list[TimelineEvent]] = relationship(
        back_populates="incident", order_by="TimelineEvent.id"
    )
    fingerprints: Mapped[list[IncidentFingerprint]] = relationship(back_populates="incident")

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"


class IncidentFingerprint(Base):
    """Which fingerprints an incident holds, so related reports find it by an index."""

    __tablename__ = "incident_fingerprints"
    __table_args__ = (
        UniqueConstraint("incident_id", "fingerprint", name="uq_incident_fingerprint"),
        Index("ix_fingerprint_lookup", "fingerprint", "last_seen_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    fingerprint: Mapped[str] = mapped_column(String(500))
    last_seen_at: Mapped[datetime] = mapped_column(default=now)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)

    incident: Mapped[Incident] = relationship(back_populates="fingerprints")


class TimelineEvent(Base):
    """Anything that happened to an incident, with who did it and why."""

    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=now)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    incident: Mapped[Incident] = relationship(back_populates="events")


def table(model: type[Base]) -> Table:
    """A model's table, typed as one, for statements that bypass the unit of work."""
    return cast(Table, model.__table__)
