"""The bot's commands: declare, list, update, resolve and grade incidents from the chat.

Each command runs in the transaction that stores its update, so a command is
done exactly when its update is stored: a redelivered update finds itself
stored and is not run twice. Every answer is HTML with user text escaped;
wrong arguments and unknown refs get a short answer, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core import lifecycle
from core.config import Config
from core.lifecycle import LifecycleError
from core.models import OPEN_STATUSES, PROCESSED, Incident, RawMessage, StoredReport, now, table
from core.pipeline import report_values
from core.triage.engine import triage
from core.triage.verdict import SEVERITIES
from ingest.telegram import parse_update
from notify.telegram_send import escape

HELP = (
    "<b>Incident bot</b>\n"
    "/incident TEXT: declare an incident now\n"
    "/status: open incidents, one line each\n"
    "/update INC-n TEXT: post a stakeholder update\n"
    "/resolve INC-n [note]: mark an incident resolved\n"
    "/severity INC-n SEV1..SEV4: change its severity\n"
    "/help: this list\n"
    "Buttons on a triage card answer the golden questions."
)

_INSERT_REPORT = insert(table(StoredReport)).returning(table(StoredReport).c.id)


class Usage(Exception):
    """Wrong arguments: the message is the short answer."""


def actor_for(user: dict[str, Any]) -> str:
    """'@username (telegram)', or the numeric id when the person has no username."""
    username = user.get("username")
    who = f"@{username}" if isinstance(username, str) and username else f"tg:{user.get('id')}"
    return f"{who} (telegram)"


def _ref_and_rest(args: str, usage: str) -> tuple[str, str]:
    ref, _, rest = args.strip().partition(" ")
    if not ref:
        raise Usage(usage)
    lifecycle.parse_ref(ref)  # raises a LifecycleError naming the bad ref
    return ref, rest.strip()


def _incident(
    session: Session, args: str, actor: str, raw: RawMessage, update: dict[str, Any], config: Config
) -> str:
    if not args.strip():
        raise Usage("Usage: /incident TEXT (what is going wrong)")
    report = parse_update(update)
    if report is None:  # the command came with no text we can read (cannot happen with args)
        raise Usage("Usage: /incident TEXT (what is going wrong)")
    handle = actor.removesuffix(" (telegram)")
    at = now()
    values = report_values(raw.id, report, triage(report, config.triage), at)
    values["reason"] = f"declared by {handle}"
    report_id = session.connection().execute(_INSERT_REPORT, values).scalar_one()
    incident = lifecycle.declare(
        session, actor, report_id=report_id, reason=f"declared by {handle}"
    )
    # Recorded even when triage agreed: the decision is now the person's.
    lifecycle.override(session, report_id, "decision", "incident", actor, "declared with /incident")
    raw.status, raw.processed_at = PROCESSED, at
    return (
        f"🚨 <b>{incident.ref}</b> declared by {escape(handle)}: {escape(incident.title)}\n"
        f"{incident.severity} · {incident.status}"
    )


def _status(session: Session, args: str, actor: str, *_: Any) -> str:
    incidents = session.scalars(
        select(Incident).where(Incident.status.in_(OPEN_STATUSES)).order_by(Incident.id)
    ).all()
    if not incidents:
        return "No open incidents."
    lines = [
        f"<b>{i.ref}</b> {i.severity} {i.status}: {escape(i.title[:120])}" for i in incidents[:50]
    ]
    if len(incidents) > 50:
        lines.append(f"… and {len(incidents) - 50} more")
    return "\n".join(lines)


def _update(session: Session, args: str, actor: str, *_: Any) -> str:
    usage = "Usage: /update INC-n TEXT"
    ref, text = _ref_and_rest(args, usage)
    if not text:
        raise Usage(usage)
    lifecycle.post_update(session, ref, text, actor)
    return f"Update posted to <b>{escape(ref.upper())}</b>."


def _resolve(session: Session, args: str, actor: str, *_: Any) -> str:
    ref, note = _ref_and_rest(args, "Usage: /resolve INC-n [note]")
    incident = lifecycle.resolve(session, ref, actor, note)
    return f"✅ <b>{incident.ref}</b> resolved by {escape(actor.removesuffix(' (telegram)'))}."


def _severity(session: Session, args: str, actor: str, *_: Any) -> str:
    usage = f"Usage: /severity INC-n {'|'.join(SEVERITIES)}"
    ref, severity = _ref_and_rest(args, usage)
    if not severity or " " in severity:
        raise Usage(usage)
    incident = lifecycle.set_severity(session, ref, severity.upper(), actor)
    return f"<b>{incident.ref}</b> is now {incident.severity}."


def _help(*_: Any) -> str:
    return HELP


_RUN: dict[str, Callable[..., str]] = {
    "incident": _incident,
    "status": _status,
    "update": _update,
    "resolve": _resolve,
    "severity": _severity,
    "help": _help,
    "start": _help,
}


def run_command(
    session: Session,
    command: str,
    args: str,
    actor: str,
    raw: RawMessage,
    update: dict[str, Any],
    config: Config,
) -> str:
    """Run one command inside a savepoint; the answer to post in the chat.

    A refused operation (bad arguments, unknown ref, a move the lifecycle does
    not allow) rolls back only what the command did, never the stored update.
    """
    if command not in _RUN:  # "?": the filter passes the unknown name as the arguments
        return f"Unknown command /{escape(args if command == '?' else command)}. Try /help."
    savepoint = session.begin_nested()
    try:
        answer = _RUN[command](session, args, actor, raw, update, config)
    except (Usage, LifecycleError) as exc:
        savepoint.rollback()
        return f"⚠️ {escape(str(exc))}"
    savepoint.commit()
    return answer
