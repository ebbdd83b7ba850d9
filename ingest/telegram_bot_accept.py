"""Store a batch of Telegram updates, and do what commands, presses and edits ask, in one commit.

This is the only place the bot writes input: every update it takes goes
through `store_raw` keyed by its update_id, in one durable transaction per
batch, and the caller confirms the batch to Telegram (the polling offset, a
webhook's 200) only after this returns. A command, a button press or an
edit is applied in that same transaction, so an update redelivered after a
crash is found already stored and nothing is done twice; each runs in its own
savepoint, so one that fails never loses the stored update or the others.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.config import Config
from core.db import transaction
from core.lifecycle import LifecycleError
from core.models import IGNORED, PENDING, RawMessage
from core.store import store_raw
from ingest import telegram_cards as cards
from ingest.telegram_bot_edits import apply_edit, original_report
from ingest.telegram_bot_filter import BotIdentity, Taken, message_of, take
from ingest.telegram_commands import actor_for, run_command

log = logging.getLogger("intake.telegram")
SOURCE = "telegram"


@dataclass(frozen=True)
class Reply:
    chat_id: int
    html: str
    reply_to: int | None


@dataclass(frozen=True)
class CallbackAnswer:
    callback_id: str
    text: str
    report_id: int | None = None  # whose card to edit to show the result


@dataclass
class Accepted:
    stored: int = 0
    duplicates: int = 0
    ignored: int = 0
    pending: int = 0  # stored for the pipeline to make reports of
    replies: list[Reply] = field(default_factory=list)
    answers: list[CallbackAnswer] = field(default_factory=list)
    changed_reports: list[int] = field(default_factory=list)  # edited: their cards need redrawing


class IgnoredChats:
    """Logs an ignored chat once per process, not once per message."""

    def __init__(self) -> None:
        self._seen: set[tuple[int | None, str]] = set()

    def note(self, taken: Taken) -> None:
        if taken.why == "neither mentions nor answers the bot":
            return  # normal in a mention-mode chat
        key = (taken.chat_id, taken.why)
        if key not in self._seen:
            self._seen.add(key)
            log.info("ignoring telegram chat %s: %s", taken.chat_id, taken.why)


def body_of(update: dict[str, Any]) -> bytes:
    return json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()


def _meta(
    session: Session, update: dict[str, Any], taken: Taken, me: BotIdentity
) -> dict[str, Any]:
    _, message = message_of(update)
    meta: dict[str, Any] = {"kind": taken.kind, "chat_id": taken.chat_id}
    if message.get("message_id") is not None and taken.chat_id is not None:
        meta["message_id"] = message["message_id"]
        meta["chat_message"] = f"{taken.chat_id}:{message['message_id']}"
    replied = message.get("reply_to_message")
    if isinstance(replied, dict) and (replied.get("from") or {}).get("id") == me.id:
        card_report = cards.report_of_card(session, taken.chat_id, replied.get("message_id"))
        if card_report is not None:  # answering a card is answering its report
            meta["answers_report"] = card_report
    return meta


def accept(
    factory: sessionmaker[Session],
    updates: list[dict[str, Any]],
    config: Config,
    me: BotIdentity,
    ignored_chats: IgnoredChats | None = None,
) -> Accepted:
    """Store the updates the bot takes and apply their commands, presses and edits; commit."""
    result = Accepted()
    with transaction(factory) as session:
        for update in updates:
            taken = take(update, config.telegram, me)
            if taken.kind == "ignore":
                result.ignored += 1
                if ignored_chats is not None:
                    ignored_chats.note(taken)
                continue
            status = PENDING if taken.kind in ("message", "edit") else IGNORED
            stored = store_raw(
                session,
                SOURCE,
                str(update["update_id"]),
                body_of(update),
                _meta(session, update, taken, me),
                status=status,
            )
            if not stored.created:
                result.duplicates += 1
                continue
            result.stored += 1
            if taken.kind == "message":  # the pipeline's: nothing to load or do here
                result.pending += 1
                continue
            raw = session.get(RawMessage, stored.id)
            assert raw is not None
            _apply(session, raw, update, taken, config, result)
            if raw.status == PENDING:
                result.pending += 1
    return result


def _apply(
    session: Session,
    raw: RawMessage,
    update: dict[str, Any],
    taken: Taken,
    config: Config,
    result: Accepted,
) -> None:
    if taken.kind == "command":
        _command(session, raw, update, taken, config, result)
    elif taken.kind == "callback":
        _callback(session, update, result)
    elif taken.kind == "edit":
        savepoint = session.begin_nested()
        try:
            changed = apply_edit(session, raw, update, config)
        except Exception:  # the edit stays stored and pending: the pipeline makes a report
            log.exception("telegram edit in update %s could not be applied", update["update_id"])
            savepoint.rollback()
            session.refresh(raw)
            return
        savepoint.commit()
        if changed:
            _, message = message_of(update)
            result.changed_reports.append(_report_id_of(session, taken, message))


def _report_id_of(session: Session, taken: Taken, message: dict[str, Any]) -> int:
    report = original_report(session, f"{taken.chat_id}:{message.get('message_id')}")
    assert report is not None
    return report.id


def _command(
    session: Session,
    raw: RawMessage,
    update: dict[str, Any],
    taken: Taken,
    config: Config,
    result: Accepted,
) -> None:
    _, message = message_of(update)
    actor = actor_for(message.get("from") or message.get("sender_chat") or {})
    assert taken.command is not None and taken.chat_id is not None
    answer = run_command(session, taken.command, taken.args, actor, raw, update, config)
    result.replies.append(Reply(taken.chat_id, answer, message.get("message_id")))


def _callback(session: Session, update: dict[str, Any], result: Accepted) -> None:
    query = update["callback_query"]
    callback_id = str(query.get("id", ""))
    parsed = cards.parse_callback(str(query.get("data", "")))
    if parsed is None:
        result.answers.append(CallbackAnswer(callback_id, "This button is not ours any more."))
        return
    report_id, action = parsed
    actor = actor_for(query.get("from") or {})
    savepoint = session.begin_nested()
    try:
        outcome = cards.press(session, report_id, action, actor)
    except LifecycleError as exc:
        savepoint.rollback()
        result.answers.append(CallbackAnswer(callback_id, str(exc)[:190], report_id))
        return
    savepoint.commit()
    cards.note_outcome(session, report_id, outcome)
    result.answers.append(CallbackAnswer(callback_id, outcome[:190], report_id))
