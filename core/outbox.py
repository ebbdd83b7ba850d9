"""The notification outbox: one row per (event, recipient), in the transaction of the change.

`record_event` (core.incident_writes) hands every timeline event to the hook a
session carries; the planner keeps only the kinds some audience (or the
acknowledgement reply) wants, a frozenset lookup, so an alert storm pays
nothing when nobody listens. Just before the transaction commits, the noted
events become outbox rows: filters are matched against the incident as it
stands then, with all its reports attached. A rolled-back transaction takes
its notes with it, and a note whose incident or report was rolled back with a
savepoint finds nothing and writes nothing.

Rows hold what the message says (a snapshot); rendering and delivery belong to
`notify`, which reads the rows and never the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from typing import Any

from sqlalchemy import desc, event, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.config_notify import Audience, NotifyConfig
from core.incident_writes import EVENT_HOOK
from core.models import Incident, RawMessage, StoredReport, TimelineEvent, now, table
from core.models_notify import PENDING, AckSent, OutboxMessage
from core.triage.verdict import QUESTIONS

_NOTES = "intake.outbox.notes"
_PLANNER = "intake.outbox.planner"
_OUTBOX = table(OutboxMessage)
INSERT_OUTBOX = insert(_OUTBOX)
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Reports read for the golden answers in short: enough to be representative, bounded in a storm.
_GOLDEN_REPORTS = 50


@dataclass(frozen=True)
class Note:
    incident_id: int
    kind: str
    actor: str
    reason: str
    at: datetime
    data: dict[str, Any]


def audience_event(kind: str, data: dict[str, Any]) -> str | None:
    """The audience event a timeline event stands for, if any."""
    if kind == "declared":
        return "triage_needed" if data.get("status") == "triage" else "declared"
    if kind == "status_changed":
        return {"live": "declared", "resolved": "resolved"}.get(str(data.get("status")))
    if kind in ("severity_changed", "update_posted"):
        return kind
    return None


def base_url(config: Config) -> str:
    return config.notify.base_url or config.web.base_url or DEFAULT_BASE_URL


class Planner:
    """What the configured audiences want, worked out once from config."""

    def __init__(self, config: Config) -> None:
        self.config = config
        notify: NotifyConfig = config.notify
        self.by_event: dict[str, tuple[Audience, ...]] = {
            name: tuple(a for a in notify.audiences if name in a.events and _has_channel(a))
            for name in (
                "declared",
                "severity_changed",
                "update_posted",
                "resolved",
                "triage_needed",
            )
        }
        kinds: set[str] = set()
        if self.by_event["declared"] or self.by_event["triage_needed"]:
            kinds |= {"declared", "status_changed"}
        if self.by_event["resolved"]:
            kinds.add("status_changed")
        for name in ("severity_changed", "update_posted"):
            if self.by_event[name]:
                kinds.add(name)
        self.ack = notify.ack_reply
        if self.ack:
            kinds.add("report_attached")
        self.kinds = frozenset(kinds)
        smtp = notify.smtp
        own = {a.lower() for a in config.triage.own_addresses}
        if smtp is not None:
            own.add(smtp.incident_address.lower())
            own.add(parseaddr(smtp.sender)[1].lower())
        self.own_addresses = frozenset(own)
        self.base_url = base_url(config)

    def note(
        self,
        session: Session,
        incident_id: int,
        kind: str,
        actor: str,
        reason: str,
        at: datetime,
        data: dict[str, Any],
    ) -> None:
        if kind not in self.kinds:
            return
        notes = session.info.setdefault(_NOTES, [])
        notes.append(Note(incident_id, kind, actor, reason, at, dict(data)))

    def flush(self, session: Session) -> int:
        """Turn the transaction's notes into outbox rows; returns how many rows."""
        notes: list[Note] = session.info.pop(_NOTES, [])
        if not notes:
            return 0
        session.flush()  # the incident as the transaction leaves it (autoflush is off)
        rows: list[dict[str, Any]] = []
        seen: set[tuple[int, str, str]] = set()
        for note in notes:
            if note.kind == "report_attached":
                rows.extend(self._ack(session, note))
                continue
            name = audience_event(note.kind, note.data)
            if name is None or not self.by_event[name]:
                continue
            key = (note.incident_id, name, note.reason if name == "update_posted" else "")
            if key in seen:
                continue
            seen.add(key)
            context = snapshot(session, note.incident_id, self.base_url)
            if context is None:  # rolled back with a savepoint
                continue
            context["event"] = {
                "name": name,
                "actor": note.actor,
                "reason": note.reason,
                "at": note.at.isoformat(),
                "old": note.data.get("old"),
                "new": note.data.get("new"),
            }
            if name == "update_posted":
                context["update"] = {"text": note.reason, "at": note.at.isoformat()}
            for audience in self.by_event[name]:
                if audience.wants(context["severity"], context["types"], context["sources"]):
                    rows.extend(rows_for(audience, name, note.incident_id, context, note.at))
        if rows:
            session.connection().execute(INSERT_OUTBOX, rows)
        return len(rows)

    def _ack(self, session: Session, note: Note) -> list[dict[str, Any]]:
        report_id = note.data.get("report_id")
        if not isinstance(report_id, int):
            return []
        found = session.execute(
            select(StoredReport.source, StoredReport.set_aside, RawMessage.body)
            .join(RawMessage, RawMessage.id == StoredReport.raw_id)
            .where(StoredReport.id == report_id, StoredReport.incident_id == note.incident_id)
        ).first()
        if found is None or found.source != "email" or found.set_aside:
            return []
        headers = BytesHeaderParser(policy=compat32).parsebytes(found.body, headersonly=True)
        reply = ack_target(headers, self.own_addresses)
        if reply is None:
            return []
        sender, message_id, subject = reply
        if not _claim_ack(session, note.incident_id, sender, report_id):
            return []  # this sender already had one for this incident
        context = snapshot(session, note.incident_id, self.base_url)
        if context is None:
            return []
        context["ack"] = {"in_reply_to": message_id, "subject": subject}
        return [row("ack", note.incident_id, "", "email", sender, context, note.at)]


def _has_channel(audience: Audience) -> bool:
    return bool(audience.emails or audience.telegram or audience.webhooks)


def ack_target(headers: Any, own: Iterable[str]) -> tuple[str, str, str] | None:
    """(sender, Message-ID, subject) to acknowledge, or None for mail that must get no reply.

    Never automatic mail or mailing lists (RFC 3834 section 2), never ourselves.
    """
    auto = str(headers.get("Auto-Submitted", "")).split(";")[0].strip().lower()
    if auto and auto != "no":
        return None
    precedence = str(headers.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return None
    if any(name.lower().startswith("list-") for name in headers):
        return None
    if headers.get("X-Intake-Notification") is not None:
        return None
    if str(headers.get("Return-Path", "")).strip() == "<>":
        return None
    senders = getaddresses([str(v) for v in headers.get_all("From", [])])
    if len(senders) != 1:
        return None
    sender = senders[0][1].strip().lower()
    if "@" not in sender or sender in set(own):
        return None
    local = sender.split("@", 1)[0]
    if local in ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply"):
        return None
    message_id = str(headers.get("Message-ID", "")).strip()
    subject = str(headers.get("Subject", "")).strip()
    return sender, message_id, subject


def _claim_ack(session: Session, incident_id: int, sender: str, report_id: int) -> bool:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = (
        module.insert(table(AckSent))
        .values(incident_id=incident_id, sender=sender, report_id=report_id, at=now())
        .on_conflict_do_nothing(index_elements=["incident_id", "sender"])
        .returning(table(AckSent).c.id)
    )
    # RETURNING, not rowcount: the driver may report -1 for a skipped row.
    return session.connection().execute(statement).first() is not None


def rows_for(
    audience: Audience, kind: str, incident_id: int | None, context: dict[str, Any], at: datetime
) -> list[dict[str, Any]]:
    """One row per recipient of the audience, on each of its channels."""
    rows = [row(kind, incident_id, audience.name, "email", a, context, at) for a in audience.emails]
    rows += [
        row(kind, incident_id, audience.name, "telegram", str(c), context, at)
        for c in audience.telegram
    ]
    rows += [
        row(kind, incident_id, audience.name, "webhook", w.url, context, at)
        for w in audience.webhooks
    ]
    return rows


def row(
    kind: str,
    incident_id: int | None,
    audience: str,
    channel: str,
    recipient: str,
    context: dict[str, Any],
    at: datetime,
) -> dict[str, Any]:
    return {
        "created_at": at,
        "kind": kind,
        "incident_id": incident_id,
        "audience": audience,
        "channel": channel,
        "recipient": recipient,
        "context": context,
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at": at,
        "last_error": None,
        "message_id": None,
        "thread_root": None,
        "sent_at": None,
    }


def golden_short(answers: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Each golden question answered in one word over the incident's reports: yes wins."""
    short = dict.fromkeys(QUESTIONS, "unknown")
    for golden in answers:
        for question in QUESTIONS:
            answer = (golden.get(question) or {}).get("answer")
            if answer is True:
                short[question] = "yes"
            elif answer is False and short[question] == "unknown":
                short[question] = "no"
    return short


def snapshot(session: Session, incident_id: int, base: str) -> dict[str, Any] | None:
    """What an update says about an incident, as plain JSON values."""
    incident = session.execute(
        select(
            Incident.title,
            Incident.status,
            Incident.severity,
            Incident.types,
            Incident.quadrant,
            Incident.opened_at,
        ).where(Incident.id == incident_id)
    ).first()
    if incident is None:
        return None
    reports = session.execute(
        select(StoredReport.source, StoredReport.golden)
        .where(StoredReport.incident_id == incident_id)
        .order_by(StoredReport.id)
        .limit(_GOLDEN_REPORTS)
    ).all()
    update = session.execute(
        select(TimelineEvent.reason, TimelineEvent.at)
        .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == "update_posted")
        .order_by(desc(TimelineEvent.id))
        .limit(1)
    ).first()
    ref = f"INC-{incident_id}"
    return {
        "id": incident_id,
        "ref": ref,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "types": list(incident.types),
        "quadrant": incident.quadrant,
        "opened_at": incident.opened_at.isoformat(),
        "sources": sorted({r.source for r in reports}),
        "golden": golden_short(r.golden for r in reports),
        "update": {"text": update.reason, "at": update.at.isoformat()} if update else None,
        "url": f"{base}/incidents/{ref}",
    }


def _before_commit(session: Session) -> None:
    planner = session.info.get(_PLANNER)
    if planner is not None:
        planner.flush(session)


def _forget(session: Session, transaction: Any) -> None:
    # Only when the whole transaction ends: a savepoint's end leaves the outer notes.
    if transaction.parent is None:
        session.info.pop(_NOTES, None)


def install(factory: sessionmaker[Session], config: Config) -> Planner:
    """Make the factory's sessions write outbox rows for what the audiences want."""
    planner = Planner(config)
    info = dict(factory.kw.get("info") or {})
    first = _PLANNER not in info
    info[_PLANNER] = planner
    info[EVENT_HOOK] = planner.note
    factory.configure(info=info)
    if first:
        event.listen(factory, "before_commit", _before_commit)
        event.listen(factory, "after_transaction_end", _forget)
    return planner


def install_runtime(rt: Any) -> Planner:
    """Both of a runtime's session factories (durable and relaxed) write the outbox."""
    planner = install(rt.factory, rt.config)
    if rt.work_factory is not None and rt.work_factory is not rt.factory:
        install(rt.work_factory, rt.config)
    return planner
