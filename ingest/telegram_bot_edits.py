"""An edited Telegram message updates the report it first made and triages it again.

The change of verdict is recorded like any re-triage (a VerdictChange per
changed answer, actor `rule:edited`); answers a person gave stand. A report
that now calls for an incident and has none is placed by grouping.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import grouping
from core.config import Config
from core.models import PENDING, PROCESSED, RawMessage, StoredReport, VerdictChange, now
from core.pipeline import process_raw, verdict_columns
from core.triage.engine import triage
from ingest.raw import parse_raw
from ingest.telegram import parse_update

ACTOR = "rule:edited"


def _answer(value: object) -> str | None:
    return {True: "yes", False: "no"}.get(value)  # type: ignore[call-overload]


def original_report(session: Session, key: str) -> StoredReport | None:
    return session.scalar(
        select(StoredReport)
        .where(StoredReport.source == "telegram", StoredReport.message_id == key)
        .order_by(StoredReport.id)
        .limit(1)
    )


def _settle_pending_original(session: Session, key: str, config: Config, edit_raw_id: int) -> None:
    """The original message may still wait for the pipeline: process it now, so the edit
    has a report to change rather than making a second one."""
    raw = session.scalar(
        select(RawMessage)
        .where(
            RawMessage.status == PENDING,
            RawMessage.source == "telegram",
            RawMessage.id != edit_raw_id,
            RawMessage.meta["chat_message"].as_string() == key,
        )
        .order_by(RawMessage.id)
        .limit(1)
        .with_for_update()
    )
    if raw is not None and raw.status == PENDING:
        process_raw(session, raw, parse_raw, config, now())


def apply_edit(session: Session, raw: RawMessage, update: dict[str, Any], config: Config) -> bool:
    """Update the edited message's report; False when there is none (the pipeline makes one)."""
    edited = parse_update(update)
    if edited is None:
        return False
    _settle_pending_original(session, edited.message_id, config, raw.id)
    report = original_report(session, edited.message_id)
    if report is None:
        return False
    verdict = triage(edited, config.triage)
    new = verdict_columns(verdict)
    overridden = {c.field for c in report.changes if not c.actor.startswith("rule:")}
    changes: list[tuple[str, str | None, str | None]] = []
    if report.decision != new["decision"] and "decision" not in overridden:
        changes.append(("decision", report.decision, str(new["decision"])))
    golden = dict(new.pop("golden"))
    for question, answer in golden.items():
        old, value = (
            _answer(report.golden.get(question, {}).get("answer")),
            _answer(answer["answer"]),
        )
        if question in overridden:
            golden[question] = report.golden[question]  # a person's answer stands
        elif old != value:
            changes.append((question, old, value))
    for name, old, value in changes:
        session.add(
            VerdictChange(
                report=report,
                field=name,
                old_value=old,
                new_value=value,
                actor=ACTOR,
                reason="the message was edited",
            )
        )
    report.title, report.text = edited.title[:2000], edited.text
    report.fields = edited.fields
    report.sent_at = edited.sent_at or report.sent_at
    report.golden = golden
    for key, value in new.items():
        if not (key == "decision" and "decision" in overridden):
            setattr(report, key, value)
    report.triaged_at = now()
    raw.status, raw.processed_at = PROCESSED, report.triaged_at
    session.flush()
    if report.incident_id is None and report.decision != "not_incident":
        _place(session, report, config)
    return True


def _place(session: Session, report: StoredReport, config: Config) -> None:
    grouping.place(
        session,
        grouping.Placing(
            id=report.id,
            source=report.source,
            title=report.title,
            in_reply_to=report.in_reply_to,
            references=list(report.references),
            fingerprint=report.fingerprint,
            decision=report.decision,
            severity=report.severity,
            types=list(report.types),
            quadrant=report.quadrant,
            reason=report.reason,
            set_aside=report.set_aside,
        ),
        config.grouping,
        now(),
    )
