"""Triage cards: a report's verdict in the chat, with buttons that answer for it.

A card shows the title, the quadrant and the five golden answers with their
evidence, and carries buttons: Declare, Not an incident, and a yes/no toggle
per golden question. Every press is an override recorded with the person
(core.lifecycle), and the card is edited to show the result.

callback_data is `t:<report id>:<action>` (action `d`, `n` or `q<index>`):
well under Telegram's 64 bytes for any report id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from core import lifecycle
from core.models import OPEN_STATUSES, TRIAGE, StoredReport, now
from core.models_telegram import TelegramCard
from core.triage.verdict import QUESTIONS
from notify.telegram_send import escape

CALLBACK_LIMIT = 64  # bytes, Telegram's limit for callback_data
EVIDENCE_SHOWN = 2
_ANSWER = {True: "yes", False: "no", None: "unknown"}


def callback_data(report_id: int, action: str) -> str:
    data = f"t:{report_id}:{action}"
    assert len(data.encode()) <= CALLBACK_LIMIT
    return data


def parse_callback(data: str) -> tuple[int, str] | None:
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != "t" or not parts[1].isdigit():
        return None
    action = parts[2]
    if action in ("d", "n") or (action[:1] == "q" and action[1:] in map(str, range(5))):
        return int(parts[1]), action
    return None


def _evidence(answer: dict[str, Any]) -> str:
    items = [str(e) for e in answer.get("evidence") or []][:EVIDENCE_SHOWN]
    text = "; ".join(item if len(item) <= 160 else item[:159] + "…" for item in items)
    return f" ({escape(text)})" if text else ""


def render(report: StoredReport, outcome: str = "") -> tuple[str, InlineKeyboardMarkup]:
    """The card's HTML and buttons for the report as it stands now."""
    incident = report.incident
    head = f"🔎 <b>Triage: {escape(report.title[:200] or '(no title)')}</b>"
    facts = f"{report.quadrant.replace('_', ' ')} · {report.decision.replace('_', ' ')}"
    facts += f" · {report.severity}"
    if incident is not None:
        facts += f" · <b>{incident.ref}</b> ({incident.status})"
    lines = [head, facts, ""]
    for question in QUESTIONS:
        answer = report.golden.get(question) or {}
        word = _ANSWER.get(answer.get("answer"), "unknown")
        lines.append(f"• <b>{question}</b>: {word}{_evidence(answer)}")
    if outcome:
        lines += ["", f"<i>{escape(outcome)}</i>"]
    buttons = [
        [
            InlineKeyboardButton("🚨 Declare", callback_data=callback_data(report.id, "d")),
            InlineKeyboardButton("Not an incident", callback_data=callback_data(report.id, "n")),
        ]
    ]
    row = []
    for index, question in enumerate(QUESTIONS):
        answer = (report.golden.get(question) or {}).get("answer")
        mark = {True: "✅", False: "❌", None: "❔"}.get(answer, "❔")
        row.append(
            InlineKeyboardButton(
                f"{mark} {question}", callback_data=callback_data(report.id, f"q{index}")
            )
        )
    buttons += [row[:3], row[3:]]
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


def press(session: Session, report_id: int, action: str, actor: str) -> str:
    """Apply one button press as overrides by `actor`; returns what happened, for the card."""
    report = session.get(StoredReport, report_id)
    if report is None:
        raise lifecycle.LifecycleError(f"report {report_id} does not exist")
    who = actor.removesuffix(" (telegram)")
    if action == "d":
        incident = report.incident
        if incident is not None and incident.status == TRIAGE:
            lifecycle.accept(session, incident.ref, actor, "declared from the Telegram card")
        elif incident is None or incident.status not in OPEN_STATUSES:
            incident = lifecycle.declare(session, actor, report_id=report.id)
        lifecycle.override(session, report.id, "decision", "incident", actor, "Declare pressed")
        session.refresh(report)
        return f"Declared by {who} as {incident.ref}"
    if action == "n":
        lifecycle.override(
            session, report.id, "decision", "not_incident", actor, "Not an incident pressed"
        )
        incident = report.incident
        if incident is not None and incident.status == TRIAGE and len(incident.reports) == 1:
            lifecycle.decline(session, incident.ref, actor, f"not an incident, said {who}")
        return f"Not an incident, said {who}"
    question = QUESTIONS[int(action[1:])]
    current = (report.golden.get(question) or {}).get("answer")
    value = "no" if current is True else "yes"
    lifecycle.override(session, report.id, question, value, actor, "toggled on the Telegram card")
    return f"{question}: {value}, said {who}"


def wanted(
    session: Session, cards_for: str, since: datetime, after_id: int = 0
) -> list[StoredReport]:
    """Telegram reports from `since` (and after report `after_id`) that should have a card
    and have none yet."""
    has_card = exists().where(TelegramCard.report_id == StoredReport.id)
    decisions = ("needs_review", "incident") if cards_for == "all" else ("needs_review",)
    query = select(StoredReport).where(
        StoredReport.id > after_id,
        StoredReport.source == "telegram",
        StoredReport.created_at >= since,
        StoredReport.decision.in_(decisions),
        StoredReport.set_aside.is_(None),
        ~has_card,
    )
    reports = list(session.scalars(query.order_by(StoredReport.id)))
    chosen = [r for r in reports if r.decision == "needs_review"]
    opened = [r for r in reports if r.decision == "incident" and r.incident_id is not None]
    firsts = _first_reports(session, {r.incident_id for r in opened if r.incident_id})
    chosen += [r for r in opened if r.id in firsts]
    return sorted(chosen, key=lambda r: r.id)


def _first_reports(session: Session, incident_ids: set[int]) -> set[int]:
    if not incident_ids:
        return set()
    query = (
        select(func.min(StoredReport.id))
        .where(StoredReport.incident_id.in_(incident_ids))
        .group_by(StoredReport.incident_id)
    )
    return set(session.scalars(query))


def claim(session: Session, report: StoredReport) -> TelegramCard | None:
    """A card row for the report (not yet sent), in the report's chat."""
    chat_id = report.fields.get("chat_id")
    if not isinstance(chat_id, int):
        return None
    card = TelegramCard(report_id=report.id, chat_id=chat_id, outcome="")
    session.add(card)
    return card


def unsent(session: Session, within: timedelta = timedelta(hours=1)) -> list[TelegramCard]:
    """Cards claimed but never sent (the process stopped in between)."""
    since = now() - within
    query = select(TelegramCard).where(
        TelegramCard.message_id.is_(None), TelegramCard.created_at >= since
    )
    return list(session.scalars(query.order_by(TelegramCard.id)))


def note_outcome(session: Session, report_id: int, outcome: str) -> None:
    card = session.scalar(select(TelegramCard).where(TelegramCard.report_id == report_id))
    if card is not None:
        card.outcome = outcome[:200]
        card.updated_at = now()


def report_of_card(session: Session, chat_id: Any, message_id: Any) -> str | None:
    """The message key (`chat:message`) of the report a card in this chat message shows."""
    if not isinstance(chat_id, int) or not isinstance(message_id, int):
        return None
    key = session.scalar(
        select(StoredReport.message_id)
        .join(TelegramCard, TelegramCard.report_id == StoredReport.id)
        .where(TelegramCard.chat_id == chat_id, TelegramCard.message_id == message_id)
    )
    return key or None
