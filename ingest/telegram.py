"""Telegram Bot API Update objects -> candidate reports.

Reads the first of `message`, `edited_message`, `channel_post`,
`edited_channel_post`. An update without one (callback_query, inline_query,
shipping_query, pre_checkout_query, ...) or whose message has neither text nor
caption (a sticker, location, voice note, payment, service message) gives None:
nothing a person wrote to triage. A forwarded message is reported as written by
its original author, when Telegram says who that was, with `forwarded_by` the
person who forwarded it.

`Report.fields` always holds every key of FIELD_KEYS (None, False or [] when
the update does not say). Entity offsets are UTF-16 code units, as Telegram
counts them, so an emoji before a mention does not shift what is read.
"""

from __future__ import annotations

from typing import Any

from core.report import Attachment, ParseError, Report
from ingest._values import as_dict, as_int, as_str, as_time, kind, load_object

FIELD_KEYS = (
    "update_id chat_id chat_type chat_title message_id from_id from_username from_is_bot "
    "edited commands command_args mentions hashtags urls reply_to_message_id reply_to_text "
    "reply_to_from reply_to_is_bot forwarded forward_from forward_date has_media media_type"
).split()
_MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post")
_MEDIA_KEYS = "photo document video audio voice video_note animation sticker".split()
_MEDIA_SET = frozenset(_MEDIA_KEYS)
_FORWARD_KEYS = frozenset(
    ("forward_origin", "forward_from", "forward_from_chat", "forward_sender_name", "forward_date")
)
TITLE_LIMIT = 100


def parse_update(body: bytes | str | dict[str, Any]) -> Report | None:
    """Turn one Telegram Update into a report; None when it carries no text to triage."""
    update = load_object(body, "Telegram update")
    if "update_id" not in update:
        raise ParseError("Telegram update has no 'update_id'")
    update_id = as_int(update["update_id"])
    if update_id is None:
        raise ParseError(f"Telegram update_id is a {kind(update['update_id'])}, not an integer")
    key = next((key for key in _MESSAGE_KEYS if key in update), None)
    if key is None:
        return None
    message = update[key]
    if not isinstance(message, dict):
        raise ParseError(f"Telegram update's {key!r} is a {kind(message)}, not an object")
    message_id = as_int(message.get("message_id"))
    chat = message.get("chat")
    if message_id is None:
        raise ParseError(f"Telegram {key} has no integer 'message_id'")
    if not isinstance(chat, dict) or as_int(chat.get("id")) is None:
        raise ParseError(f"Telegram {key} has no 'chat' object with an integer 'id'")
    text, entities = message.get("text"), message.get("entities")
    if not isinstance(text, str):
        text, entities = message.get("caption"), message.get("caption_entities")
    if not isinstance(text, str) or not text.strip():
        return None
    return _report(update_id, key, message, message_id, chat, text, entities)


def _report(
    update_id: int,
    key: str,
    message: dict[str, Any],
    message_id: int,
    chat: dict[str, Any],
    text: str,
    entities: Any,
) -> Report:
    chat_id = chat["id"]
    sender = as_dict(message.get("from"))
    edited = key.startswith("edited_")
    date = message.get("date")
    fields: dict[str, Any] = dict.fromkeys(FIELD_KEYS)
    fields.update(
        update_id=update_id,
        chat_id=chat_id,
        chat_type=as_str(chat.get("type")),
        chat_title=as_str(chat.get("title")),
        message_id=message_id,
        from_id=as_int(sender.get("id")),
        from_username=as_str(sender.get("username")),
        from_is_bot=_bool(sender.get("is_bot")),
        edited=edited,
        forwarded=False,
        has_media=False,
    )
    fields.update(_entities(text, entities))
    # "/incident@bot checkout is down": the words after the command make the better title.
    leading_command = fields["commands"] and text.lstrip().startswith("/")
    title = _title(fields["command_args"] if leading_command and fields["command_args"] else text)
    report = Report(
        source="telegram",
        title=title,
        text=text,
        sent_at=as_time(message.get("edit_date") if edited else None) or as_time(date),
        message_id=f"{chat_id}:{message_id}",
        fingerprint=f"telegram:{chat_id}:{message_id}",
        fields=fields,
    )
    if sender:
        report.reporter, report.reporter_address = _person(sender), _address(sender)
    else:  # a channel post or an anonymous admin: the chat speaks
        sender_chat = as_dict(message.get("sender_chat")) or chat
        signature = as_str(message.get("author_signature"))
        report.reporter = signature or _chat_name(sender_chat)
        report.reporter_address = _address(sender_chat)
    _reply(report, message, chat_id)
    _forward(report, message)
    _media(report, message)
    return report


def _reply(report: Report, message: dict[str, Any], chat_id: int) -> None:
    reply = message.get("reply_to_message")
    if not isinstance(reply, dict):
        return
    fields = report.fields
    reply_id = as_int(reply.get("message_id"))
    author = as_dict(reply.get("from"))
    fields.update(
        reply_to_message_id=reply_id,
        reply_to_text=as_str(reply.get("text")) or as_str(reply.get("caption")),
        reply_to_from=_person(author) or _chat_name(as_dict(reply.get("sender_chat"))) or None,
        reply_to_is_bot=_bool(author.get("is_bot")),
    )
    if reply_id is not None:
        report.in_reply_to = f"{chat_id}:{reply_id}"
        report.references = [report.in_reply_to]
        report.fingerprint = f"telegram:{chat_id}:{reply_id}"


def _forward(report: Report, message: dict[str, Any]) -> None:
    """Forward facts, from Bot API 7's `forward_origin` or the older `forward_*` fields."""
    if _FORWARD_KEYS.isdisjoint(message):
        return
    origin = as_dict(message.get("forward_origin"))
    user = as_dict(origin.get("sender_user")) or as_dict(message.get("forward_from"))
    chat = as_dict(origin.get("chat")) or as_dict(origin.get("sender_chat"))
    chat = chat or as_dict(message.get("forward_from_chat"))
    hidden = as_str(origin.get("sender_user_name")) or as_str(message.get("forward_sender_name"))
    author = _person(user) or _chat_name(chat) or hidden or ""
    date = as_time(origin.get("date")) or as_time(message.get("forward_date"))
    report.fields.update(
        forwarded=True,
        forward_from=author or None,
        forward_date=date.isoformat() if date else None,
    )
    if author:
        report.forwarded_by = report.reporter
        report.reporter, report.reporter_address = author, _address(user or chat)


def _media(report: Report, message: dict[str, Any]) -> None:
    if _MEDIA_SET.isdisjoint(message):
        return
    media_type = next((key for key in _MEDIA_KEYS if message.get(key)), None)
    if media_type is None:
        return
    report.fields.update(has_media=True, media_type=media_type)
    media = message[media_type]
    if media_type == "photo":  # a list of sizes, smallest first; name it like Telegram does
        largest = media[-1] if isinstance(media, list) else None
        media = {"mime_type": "image/jpeg", "file_name": "photo.jpg"} | as_dict(largest)
    if isinstance(media, dict):
        name = as_str(media.get("file_name")) or media_type
        content_type = as_str(media.get("mime_type")) or "application/octet-stream"
        report.attachments = [Attachment(name, content_type, as_int(media.get("file_size")) or 0)]


def _entities(text: str, entities: Any) -> dict[str, Any]:
    """Commands, mentions, hashtags and URLs, read at the entities' UTF-16 offsets."""
    found: dict[str, Any] = {"commands": [], "command_args": None, "mentions": []}
    found |= {"hashtags": [], "urls": []}
    if not isinstance(entities, list) or not entities:
        return found
    # Telegram counts UTF-16 code units; a character outside the BMP (most emoji) is two.
    units = text.encode("utf-16-le", "surrogatepass")
    for entity in entities:
        entity = as_dict(entity)
        offset, length = as_int(entity.get("offset")), as_int(entity.get("length"))
        if offset is None or length is None or offset < 0:
            continue
        kind_ = entity.get("type")
        piece = units[2 * offset : 2 * (offset + length)].decode("utf-16-le", "replace")
        if kind_ == "bot_command" and piece.startswith("/"):
            found["commands"].append(piece.split("@", 1)[0].lower())
            if found["command_args"] is None:  # the text after the first command
                rest = units[2 * (offset + length) :].decode("utf-16-le", "replace")
                found["command_args"] = rest.strip()
        elif kind_ == "mention" and piece.startswith("@"):
            found["mentions"].append(piece)
        elif kind_ == "text_mention":
            user = as_dict(entity.get("user"))
            username = as_str(user.get("username"))
            mention = f"@{username}" if username else _address(user) or piece
            if mention:  # a user without username is known by id: "tg:<id>"
                found["mentions"].append(mention)
        elif kind_ == "hashtag" and piece.startswith("#"):
            found["hashtags"].append(piece)
        elif kind_ == "url" and piece:
            found["urls"].append(piece)
        elif kind_ == "text_link" and as_str(entity.get("url")):
            found["urls"].append(entity["url"])
    return found


def _title(text: str) -> str:
    """The first non-blank line, cut to TITLE_LIMIT characters."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= TITLE_LIMIT else line[: TITLE_LIMIT - 1].rstrip() + "…"


def _person(user: dict[str, Any]) -> str:
    """ "First Last (@username)", or whichever part Telegram gave."""
    parts = (as_str(user.get("first_name")), as_str(user.get("last_name")))
    name = " ".join(part for part in parts if part)
    username = as_str(user.get("username"))
    if name and username:
        return f"{name} (@{username})"
    return name or (f"@{username}" if username else "")


def _chat_name(chat: dict[str, Any]) -> str:
    return as_str(chat.get("title")) or _person(chat)


def _address(user_or_chat: dict[str, Any]) -> str:
    """ "@username" (lower-case: Telegram usernames ignore case), else "tg:<id>"."""
    username = as_str(user_or_chat.get("username"))
    if username:
        return f"@{username.lower()}"
    ident = as_int(user_or_chat.get("id"))
    return f"tg:{ident}" if ident is not None else ""


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
