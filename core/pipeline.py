"""The pipeline: pending raw message -> reports -> triage -> grouping, one transaction each.

A message that fails at any stage is quarantined with its error; it is
retried with backoff, and after MAX_ATTEMPTS it is parked until a person
reprocesses it. One poison message never blocks the others.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from core import grouping, resolution
from core import incident_writes as writes
from core.config import Config
from core.db import transaction, transient
from core.models import (
    IGNORED,
    PARKED,
    PENDING,
    PROCESSED,
    QUARANTINED,
    RawMessage,
    StoredReport,
    VerdictChange,
    now,
    table,
)
from core.report import Report
from core.triage.engine import triage
from core.triage.verdict import Verdict

MAX_ATTEMPTS = 3
# Parsing turns a raw message into candidate reports; the wiring passes ingest's.
ParseRaw = Callable[[RawMessage], list[Report]]
Clock = Callable[[], datetime]


def backoff(attempts: int) -> timedelta:
    """30 s, 2 min, 8 min: long enough for a transient fault to clear."""
    return timedelta(seconds=30 * 4 ** max(0, attempts - 1))


@dataclass
class Stats:
    processed: int = 0
    ignored: int = 0
    quarantined: int = 0
    parked: int = 0
    reports: int = 0
    deferred: int = 0  # left pending: another worker is opening their incident
    errors: list[str] = field(default_factory=list)

    def add(self, other: Stats) -> None:
        for name in ("processed", "ignored", "quarantined", "parked", "reports", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


def report_values(raw_id: int, report: Report, verdict: Verdict, at: datetime) -> dict[str, Any]:
    return {
        "raw_id": raw_id,
        "source": report.source,
        "title": report.title[:2000],
        "text": report.text,
        "note": report.note,
        "reporter": report.reporter[:500],
        "reporter_address": report.reporter_address[:320],
        "forwarded_by": report.forwarded_by[:500],
        "sent_at": report.sent_at,
        "message_id": report.message_id[:500],
        "in_reply_to": report.in_reply_to[:500],
        "references": report.references[:50],
        "fingerprint": report.fingerprint[:500],
        "fields": report.fields,
        "attachments": [vars(a) for a in report.attachments],
        "warnings": report.warnings,
        "created_at": at,
        "triaged_at": at,
        "incident_id": None,
        **verdict_columns(verdict),
    }


def verdict_columns(verdict: Verdict) -> dict[str, Any]:
    return {
        "decision": verdict.decision,
        "quadrant": verdict.quadrant,
        "planned": verdict.planned,
        "urgent": verdict.urgent,
        "types": verdict.types,
        "severity": verdict.severity,
        "golden": verdict.golden_json(),
        "reason": verdict.reason,
        "set_aside": verdict.set_aside,
    }


_INSERT_REPORT = insert(table(StoredReport)).returning(table(StoredReport).c.id)
_RAW = table(RawMessage)
_MARK_DONE = (
    update(_RAW)
    .where(_RAW.c.id == bindparam("raw"))
    .values(
        status=bindparam("status"),
        processed_at=bindparam("at"),
        last_error=None,
        next_attempt_at=None,
    )
)


def process_raw(
    session: Session,
    raw: RawMessage,
    parse: ParseRaw,
    config: Config,
    at: datetime,
    done: list[dict[str, Any]] | None = None,
) -> int:
    """Parse, triage and group one raw message; returns how many reports it gave.

    With `done`, the message's status row is appended there for the caller to
    write with the rest of its batch, instead of being written now.
    """
    candidates = parse(raw)
    connection = session.connection()
    for candidate in candidates:
        values = report_values(raw.id, candidate, triage(candidate, config.triage), at)
        report_id = connection.execute(_INSERT_REPORT, values).scalar_one()
        signal = resolution.signal_of(candidate)
        if signal is not None:  # the source resolving what it reported: no new incident
            touches = session.info.get(writes.TOUCHES)
            if touches is not None:
                touches.flush(session)  # resolution reads and marks fingerprint rows
            resolution.apply(session, report_id, candidate, signal, config.alerts.resolve, at)
            continue
        grouping.place(
            session,
            grouping.Placing(
                id=report_id,
                source=values["source"],
                title=values["title"],
                in_reply_to=values["in_reply_to"],
                references=values["references"],
                fingerprint=values["fingerprint"],
                decision=values["decision"],
                severity=values["severity"],
                types=values["types"],
                quadrant=values["quadrant"],
                reason=values["reason"],
                set_aside=values["set_aside"],
            ),
            config.grouping,
            at,
        )
    status = PROCESSED if candidates else IGNORED
    if done is not None:
        done.append({"raw": raw.id, "status": status, "at": at})
    else:
        connection.execute(_MARK_DONE, {"raw": raw.id, "status": status, "at": at})
    return len(candidates)


def _due(at: datetime) -> object:
    return or_(
        RawMessage.status == PENDING,
        (RawMessage.status == QUARANTINED) & (RawMessage.next_attempt_at <= at),
    )


def quarantine(raw: RawMessage, error: BaseException, at: datetime) -> str:
    raw.attempts += 1
    summary = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        summary += f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name})"
    raw.last_error = summary[:4000]
    if raw.attempts >= MAX_ATTEMPTS:
        raw.status = PARKED
        raw.next_attempt_at = None
    else:
        raw.status = QUARANTINED
        raw.next_attempt_at = at + backoff(raw.attempts)
    return raw.status


def run_pending(
    factory: sessionmaker[Session],
    parse: ParseRaw,
    config: Config,
    limit: int | None = None,
    clock: Clock = now,
    batch: int = 100,
) -> Stats:
    """Work through due raw messages until none is left (or `limit` were handled).

    Messages are claimed a batch at a time (FOR UPDATE SKIP LOCKED, so several
    workers share the queue). A batch first runs optimistically, as one plain
    transaction whose status updates and activity touches are written once at
    its end. If any message fails, that transaction is rolled back and the
    batch is run again with each message inside its own savepoint: a message's
    reports, incident changes and status land together or not at all, and a
    failure rolls back that message alone before it is quarantined.
    """
    stats = Stats()
    handled = 0
    while limit is None or handled < limit:
        size = batch if limit is None else min(batch, limit - handled)
        deferred = stats.deferred
        claimed = _run_batch(factory, parse, config, clock, size, stats)
        if not claimed or stats.deferred - deferred == claimed:
            break  # nothing due, or all of it waits for another worker to commit
        handled += claimed
    return stats


class _Retry(Exception):
    """A message failed in the optimistic pass: run the batch again, carefully."""


def _claim(session: Session, at: datetime, size: int) -> list[RawMessage]:
    return list(
        session.scalars(
            select(RawMessage)
            .where(_due(at))  # type: ignore[arg-type]
            .order_by(RawMessage.id)
            .limit(size)
            .with_for_update(skip_locked=True)
        ).all()
    )


def _run_batch(
    factory: sessionmaker[Session],
    parse: ParseRaw,
    config: Config,
    clock: Clock,
    size: int,
    stats: Stats,
) -> int:
    """Handle up to `size` due messages in one transaction; how many were claimed."""
    try:
        with transaction(factory) as session:
            touches = session.info[writes.TOUCHES] = writes.Touches()
            at = clock()
            claimed = _claim(session, at, size)
            done: list[dict[str, Any]] = []
            reports = 0
            for raw in claimed:
                try:
                    reports += process_raw(session, raw, parse, config, at, done)
                except Exception as exc:
                    raise _Retry from exc
            if done:
                session.connection().execute(_MARK_DONE, done)
            touches.flush(session)
    except _Retry:
        pass
    except DBAPIError as exc:
        if not transient(exc):
            raise
    else:
        stats.reports += reports
        stats.processed += sum(1 for row in done if row["status"] == PROCESSED)
        stats.ignored += sum(1 for row in done if row["status"] == IGNORED)
        return len(claimed)
    careful = Stats()
    claimed = []
    try:
        with transaction(factory) as session:
            touches = session.info[writes.TOUCHES] = writes.Touches()
            at = clock()
            claimed = _claim(session, at, size)
            for raw in claimed:
                _process_one(session, raw, parse, config, at, careful)
            touches.flush(session)
    except DBAPIError as exc:
        if not transient(exc):
            raise
        stats.deferred += len(claimed)  # all rolled back, still pending: the next round
        return len(claimed)
    stats.add(careful)
    return len(claimed)


def _process_one(
    session: Session, raw: RawMessage, parse: ParseRaw, config: Config, at: datetime, stats: Stats
) -> None:
    # A savepoint on the connection (not the ORM session: the work below is
    # all plain statements, and the session's savepoint would flush for nothing).
    touches = session.info.get(writes.TOUCHES)
    saved = touches.snapshot() if touches is not None else None
    savepoint = session.connection().begin_nested()
    try:
        reports = process_raw(session, raw, parse, config, at)
    except Exception as exc:
        savepoint.rollback()
        if touches is not None and saved is not None:
            touches.restore(saved)
        if isinstance(exc, grouping.Contended) or transient(exc):
            stats.deferred += 1  # another worker holds what it needs: pending, next round
            return
        status = quarantine(raw, exc, at)  # any stage: park it, keep the others flowing
        stats.errors.append(f"raw {raw.id}: {raw.last_error}")
        if status == PARKED:
            stats.parked += 1
        else:
            stats.quarantined += 1
        return
    savepoint.commit()
    stats.reports += reports
    if reports:
        stats.processed += 1
    else:
        stats.ignored += 1


def reprocess(session: Session, raw_ids: list[int] | None = None) -> int:
    """Put quarantined or parked messages (or the given ones) back in the queue."""
    query = select(RawMessage)
    if raw_ids:
        query = query.where(RawMessage.id.in_(raw_ids))
    else:
        query = query.where(RawMessage.status.in_((QUARANTINED, PARKED)))
    count = 0
    for raw in session.scalars(query):
        if raw.status == PROCESSED:
            for report in list(raw.reports):
                session.delete(report)  # processed again from the bytes, replacing its reports
        raw.status = PENDING
        raw.attempts = 0
        raw.next_attempt_at = None
        count += 1
    return count


@dataclass
class Retriaged:
    seen: int = 0
    changed: int = 0
    lines: list[str] = field(default_factory=list)


def retriage(
    session: Session, parse: ParseRaw, config: Config, since: datetime, actor: str = "rule:retriage"
) -> Retriaged:
    """Re-run triage with the current rules and record what changed, report by report."""
    result = Retriaged()
    reports = session.scalars(
        select(StoredReport).where(StoredReport.created_at >= since).order_by(StoredReport.id)
    ).all()
    by_raw: dict[int, list[Report]] = {}
    for row in reports:
        if row.raw_id not in by_raw:
            by_raw[row.raw_id] = parse(row.raw)
        siblings = [r.id for r in row.raw.reports]
        candidates = by_raw[row.raw_id]
        index = siblings.index(row.id) if row.id in siblings else 0
        if index >= len(candidates):
            continue
        result.seen += 1
        new = verdict_columns(triage(candidates[index], config.triage))
        overridden = {c.field for c in row.changes if not c.actor.startswith("rule:")}
        changes = _diff(row, new, overridden)
        if not changes:
            continue
        result.changed += 1
        for name, old, value in changes:
            session.add(
                VerdictChange(
                    report=row,
                    field=name,
                    old_value=old,
                    new_value=value,
                    actor=actor,
                    reason="re-triaged with the current rules",
                )
            )
            result.lines.append(f"report {row.id}: {name} {old} -> {value}")
        golden = dict(new.pop("golden"))
        for question in overridden & set(golden):
            golden[question] = row.golden[question]  # a person's answer stands
        row.golden = golden
        for key, column in new.items():
            if key == "decision" and "decision" in overridden:
                continue
            setattr(row, key, column)
    return result


def _answer(value: object) -> str | None:
    return {True: "yes", False: "no"}.get(value)  # type: ignore[call-overload]


def _diff(
    row: StoredReport, new: dict[str, object], overridden: set[str]
) -> list[tuple[str, str | None, str | None]]:
    changes: list[tuple[str, str | None, str | None]] = []
    if row.decision != new["decision"] and "decision" not in overridden:
        changes.append(("decision", row.decision, str(new["decision"])))
    golden = new["golden"]
    assert isinstance(golden, dict)
    for question, answer in golden.items():
        old = _answer(row.golden.get(question, {}).get("answer"))
        value = _answer(answer["answer"])
        if old != value and question not in overridden:
            changes.append((question, old, value))
    return changes
