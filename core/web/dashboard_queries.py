"""What the dashboard's pages read: one page of rows at a time, filters done in SQL."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from starlette.convertors import Convertor, register_url_convertor

from core.lifecycle import LifecycleError
from core.models import (
    PARKED,
    QUARANTINED,
    TRIAGE,
    Incident,
    RawMessage,
    StoredReport,
)
from core.triage.verdict import SEVERITIES, TYPES

PAGE_SIZE = 50
STATUSES = ("triage", "live", "resolved", "closed", "declined", "merged")
SOURCES = ("email", "sentry", "alertmanager", "events", "telegram")
DECISIONS = ("incident", "not_incident", "needs_review")
QUADRANTS = ("incident_response", "hotfix", "normal_work", "backlog")
_REF = re.compile(r"^\s*(?:INC-)?(\d+)\s*$", re.IGNORECASE)
MAX_ID = 2**31 - 1  # the integer columns' range on PostgreSQL; larger numbers name nothing


class RowIdConvertor(Convertor[int]):
    """A row number in a path: at most 9 digits, so it always fits the id columns."""

    regex = "[0-9]{1,9}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


class RefConvertor(Convertor[str]):
    """INC-<n> (or n) in a path, bounded like RowIdConvertor."""

    regex = "(?:[Ii][Nn][Cc]-)?[0-9]{1,9}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("rowid", RowIdConvertor())
register_url_convertor("ref", RefConvertor())


def checked_ref(text: str) -> str:
    """An incident reference typed by a person, refused before it reaches the database."""
    match = _REF.match(text)
    if not match or int(match.group(1)) > MAX_ID:
        raise LifecycleError(f"{text.strip()[:40]!r} is not an incident reference (INC-<n>)")
    return f"INC-{int(match.group(1))}"


def checked_id(value: int, what: str) -> int:
    if value < 0 or value > MAX_ID:
        raise LifecycleError(f"{what} {value} does not exist")
    return value


def _pick(value: str | None, allowed: tuple[str, ...]) -> str:
    """A filter value from the query string, or "" when it is not one we know."""
    return value if value in allowed else ""


def _page(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 100_000))
    except ValueError:
        return 1


@dataclass(frozen=True)
class IncidentFilter:
    status: str = ""
    severity: str = ""
    type: str = ""
    source: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, params: Any) -> IncidentFilter:
        return cls(
            status=_pick(params.get("status"), STATUSES),
            severity=_pick(params.get("severity"), SEVERITIES),
            type=_pick(params.get("type"), TYPES),
            source=_pick(params.get("source"), SOURCES),
            q=(params.get("q") or "").strip()[:200],
            page=_page(params.get("page")),
        )

    def query_string(self, page: int) -> str:
        from urllib.parse import urlencode

        items = {k: v for k, v in vars(self).items() if k != "page" and v}
        return urlencode({**items, "page": page})


@dataclass
class Page:
    rows: list[Any]
    total: int
    page: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def _json_has(column: Any, value: str) -> Any:
    # JSON lists of a fixed vocabulary: the quoted word appears in the text on both databases.
    return cast(column, String).like(f'%"{value}"%')


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def incident_conditions(f: IncidentFilter) -> list[Any]:
    """The WHERE clauses a filter stands for."""
    conditions: list[Any] = []
    if f.status:
        conditions.append(Incident.status == f.status)
    if f.severity:
        conditions.append(Incident.severity == f.severity)
    if f.type:
        conditions.append(_json_has(Incident.types, f.type))
    if f.source:
        # IN (one pass over reports) rather than EXISTS per incident: the planner builds the
        # set once, where a correlated check would probe reports for every incident.
        conditions.append(
            Incident.id.in_(select(StoredReport.incident_id).where(StoredReport.source == f.source))
        )
    if f.q:
        ref = _REF.match(f.q)
        pattern = _like(f.q)
        matches: list[Any] = [
            func.lower(Incident.title).like(pattern, escape="\\"),
            Incident.id.in_(
                select(StoredReport.incident_id).where(
                    func.lower(StoredReport.title).like(pattern, escape="\\")
                )
            ),
        ]
        if ref and int(ref.group(1)) <= MAX_ID:
            matches.append(Incident.id == int(ref.group(1)))
        conditions.append(or_(*matches))
    return conditions


def incident_query(f: IncidentFilter) -> Select[Any]:
    """The incidents a filter selects (newest first) with their report counts, without paging."""
    report_count = (
        select(func.count(StoredReport.id))
        .where(StoredReport.incident_id == Incident.id)
        .correlate(Incident)
        .scalar_subquery()
    )
    query = select(
        Incident.id,
        Incident.title,
        Incident.status,
        Incident.severity,
        Incident.types,
        Incident.opened_at,
        Incident.last_activity_at,
        report_count.label("reports"),
    )
    return query.where(*incident_conditions(f)).order_by(Incident.id.desc())


def list_incidents(session: Session, f: IncidentFilter, size: int = PAGE_SIZE) -> Page:
    # Counted over the filter alone: the report counts are only needed for the page's rows.
    total = session.scalar(select(func.count(Incident.id)).where(*incident_conditions(f))) or 0
    rows = session.execute(incident_query(f).limit(size).offset((f.page - 1) * size)).all()
    return Page(list(rows), int(total), f.page, size)


@dataclass(frozen=True)
class ReportFilter:
    decision: str = ""
    source: str = ""
    quadrant: str = ""
    set_aside: bool = False
    q: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, params: Any) -> ReportFilter:
        return cls(
            decision=_pick(params.get("decision"), DECISIONS),
            source=_pick(params.get("source"), SOURCES),
            quadrant=_pick(params.get("quadrant"), QUADRANTS),
            set_aside=params.get("set_aside") == "1",
            q=(params.get("q") or "").strip()[:200],
            page=_page(params.get("page")),
        )

    def query_string(self, page: int) -> str:
        from urllib.parse import urlencode

        items = {k: v for k, v in vars(self).items() if k not in ("page", "set_aside") and v}
        if self.set_aside:
            items["set_aside"] = "1"
        return urlencode({**items, "page": page})


def list_reports(session: Session, f: ReportFilter, size: int = PAGE_SIZE) -> Page:
    query = select(StoredReport)
    if f.decision:
        query = query.where(StoredReport.decision == f.decision)
    if f.source:
        query = query.where(StoredReport.source == f.source)
    if f.quadrant:
        query = query.where(StoredReport.quadrant == f.quadrant)
    if f.set_aside:
        query = query.where(StoredReport.set_aside.is_not(None))
    if f.q:
        pattern = _like(f.q)
        query = query.where(
            or_(
                func.lower(StoredReport.title).like(pattern, escape="\\"),
                func.lower(StoredReport.text).like(pattern, escape="\\"),
                func.lower(StoredReport.reporter).like(pattern, escape="\\"),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(StoredReport.id.desc()).limit(size).offset((f.page - 1) * size)
    ).all()
    return Page(list(rows), int(total), f.page, size)


@dataclass
class TriageQueue:
    incidents: list[Incident] = field(default_factory=list)
    reports: list[StoredReport] = field(default_factory=list)  # needs_review, outside an incident


def triage_queue(session: Session, limit: int = 200) -> TriageQueue:
    incidents = session.scalars(
        select(Incident).where(Incident.status == TRIAGE).order_by(Incident.id.desc()).limit(limit)
    ).all()
    open_incident = exists().where(
        Incident.id == StoredReport.incident_id, Incident.status == TRIAGE
    )
    reports = session.scalars(
        select(StoredReport)
        .where(StoredReport.decision == "needs_review", ~open_incident)
        .order_by(StoredReport.id.desc())
        .limit(limit)
    ).all()
    return TriageQueue(list(incidents), list(reports))


def quarantined(session: Session, limit: int = 500) -> list[RawMessage]:
    return list(
        session.scalars(
            select(RawMessage)
            .where(RawMessage.status.in_((QUARANTINED, PARKED)))
            .order_by(RawMessage.id.desc())
            .limit(limit)
        ).all()
    )


def quadrant_counts(session: Session, since: datetime | None = None) -> dict[str, int]:
    query = select(StoredReport.quadrant, func.count()).group_by(StoredReport.quadrant)
    if since is not None:
        query = query.where(StoredReport.created_at >= since)
    counts = dict.fromkeys(QUADRANTS, 0)
    for quadrant, count in session.execute(query):
        if quadrant in counts:
            counts[quadrant] = int(count)
    return counts


_SAFE_LINK = re.compile(r"^https?://[^\s\"'<>]+$", re.IGNORECASE)
_TG_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")


def sentry_link(report: StoredReport) -> str | None:
    """The Sentry issue permalink in the report's fields (only an http(s) address)."""
    fields = report.fields if isinstance(report.fields, dict) else {}
    url = fields.get("url")
    if report.source == "sentry" and isinstance(url, str) and _SAFE_LINK.match(url):
        return url
    return None


def telegram_link(report: StoredReport) -> str | None:
    """t.me/<chat>/<message>, when the chat is public (has a username)."""
    if report.source != "telegram":
        return None
    try:
        update = json.loads(report.raw.body)
    except (ValueError, UnicodeDecodeError):
        return None
    message = next(
        (update[k] for k in ("message", "edited_message", "channel_post") if k in update), None
    )
    if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
        return None
    username, message_id = message["chat"].get("username"), message.get("message_id")
    if isinstance(username, str) and _TG_USERNAME.match(username) and isinstance(message_id, int):
        return f"https://t.me/{username}/{message_id}"
    return None
