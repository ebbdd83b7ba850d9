"""Which Telegram updates the bot takes, and as what.

An allowlisted group is in mode `all` (every message is a candidate: the
incident room) or `mention` (only messages that mention the bot, reply to it
or use one of its commands). Private chats count for allowlisted users. The
bot's own messages, other chats and update kinds without a message (inline
queries, payments, membership changes) are ignored. Pure functions of the
Update's JSON, so the same rules serve polling and the webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from core.config_telegram import TelegramConfig

COMMANDS = ("incident", "status", "update", "resolve", "severity", "help", "start")
_MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post")

Kind = Literal["message", "edit", "command", "callback", "ignore"]


@dataclass(frozen=True)
class BotIdentity:
    id: int
    username: str  # without "@"


@dataclass(frozen=True)
class Taken:
    kind: Kind
    chat_id: int | None = None
    why: str = ""  # for an ignored update: why (logged once per chat)
    command: str | None = None  # "incident", or "?" for an unknown command addressed to us
    args: str = ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def message_of(update: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    key = next((k for k in _MESSAGE_KEYS if isinstance(update.get(k), dict)), None)
    return key, _dict(update.get(key)) if key else {}


def _allowed_chat(
    config: TelegramConfig, chat: dict[str, Any], sender: dict[str, Any]
) -> tuple[str | None, str]:
    """(the chat's mode, or None with why it is not taken)."""
    chat_id = chat.get("id")
    if chat.get("type") == "private":
        if config.private_allowed(sender.get("id"), sender.get("username")):
            return "all", ""
        return None, "a private chat with a user who is not in private_users"
    rule = config.chat(chat_id) if isinstance(chat_id, int) else None
    if rule is None:
        return None, "a chat that is not in [[telegram.chats]]"
    return rule.mode, ""


def _leading_command(message: dict[str, Any], me: BotIdentity) -> tuple[str | None, str, bool]:
    """(command, its arguments, addressed to us by @name) when the text starts with one."""
    text = message.get("text")
    entities = message.get("entities")
    if not isinstance(text, str) or not isinstance(entities, list):
        return None, "", False
    first = next((_dict(e) for e in entities if _dict(e).get("offset") == 0), {})
    if first.get("type") != "bot_command" or not isinstance(first.get("length"), int):
        return None, "", False
    units = text.encode("utf-16-le", "surrogatepass")
    length = first["length"]
    word = units[: 2 * length].decode("utf-16-le", "replace")
    rest = units[2 * length :].decode("utf-16-le", "replace").strip()
    name, _, target = word[1:].partition("@")
    if target and target.lower() != me.username.lower():
        return None, "", False  # another bot's command
    return name.lower(), rest, bool(target)


def mentions_bot(message: dict[str, Any], me: BotIdentity) -> bool:
    text = message.get("text") or message.get("caption")
    entities = message.get("entities") or message.get("caption_entities")
    if not isinstance(text, str) or not isinstance(entities, list):
        return False
    units = text.encode("utf-16-le", "surrogatepass")
    for entity in map(_dict, entities):
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            continue
        if entity.get("type") == "mention":
            piece = units[2 * offset : 2 * (offset + length)].decode("utf-16-le", "replace")
            if piece.lower() == f"@{me.username.lower()}":
                return True
        if entity.get("type") == "text_mention" and _dict(entity.get("user")).get("id") == me.id:
            return True
    return False


def take(update: dict[str, Any], config: TelegramConfig, me: BotIdentity) -> Taken:
    """Decide what an update is to the bot."""
    callback = _dict(update.get("callback_query"))
    if callback:
        chat = _dict(_dict(callback.get("message")).get("chat"))
        mode, why = _allowed_chat(config, chat, _dict(callback.get("from")))
        if mode is None:
            return Taken("ignore", chat.get("id"), why)
        return Taken("callback", chat.get("id"))
    key, message = message_of(update)
    if key is None:
        return Taken("ignore", None, "an update without a message")
    chat, sender = _dict(message.get("chat")), _dict(message.get("from"))
    chat_id = chat.get("id")
    if sender.get("id") == me.id:
        return Taken("ignore", chat_id, "the bot's own message")
    mode, why = _allowed_chat(config, chat, sender)
    if mode is None:
        return Taken("ignore", chat_id, why)
    edited = key.startswith("edited_")
    command, args, addressed = _leading_command(message, me)
    if command is not None and not edited:
        if command in COMMANDS:
            return Taken("command", chat_id, command=command, args=args)
        if addressed or chat.get("type") == "private":
            return Taken("command", chat_id, command="?", args=command)
        command = None  # someone else's command, written without @: plain text
    if mode == "mention":
        reply_from = _dict(_dict(message.get("reply_to_message")).get("from"))
        if not (mentions_bot(message, me) or reply_from.get("id") == me.id):
            return Taken("ignore", chat_id, "neither mentions nor answers the bot")
    return Taken("edit" if edited else "message", chat_id)
