"""Sending HTML messages to Telegram: splitting, flood control, a per-chat rate limit.

The one place that talks `sendMessage` for the bot (cards, command answers)
and for the notifications' Telegram channel. Telegram refuses messages over
4,096 characters and, in a group, more than about 20 messages a minute; it
answers 429 with `retry_after` when a bot sends too fast.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import telegram
from telegram.constants import ParseMode
from telegram.error import RetryAfter

from notify.chat_rate_limit import ChatBusy, ChatRateLimiter

MESSAGE_LIMIT = 4096
RETRIES = 5  # RetryAfter answers in a row before giving up on one part

_ATOM = re.compile(r"<[^<>]*>|&#?\w+;|.", re.DOTALL)
_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][\w-]*)")


def escape(text: str) -> str:
    """User text for HTML parse mode: shown as written, never read as markup."""
    return html.escape(text, quote=False)


def _units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _closing(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _step(stack: list[tuple[str, str]], atom: str) -> None:
    """Track which tags are open after `atom`."""
    match = _TAG.match(atom) if atom.startswith("<") else None
    if not match:
        return
    closing, name = match.group(1), match.group(2).lower()
    if not closing:
        stack.append((name, atom))
        return
    for index in range(len(stack) - 1, -1, -1):
        if stack[index][0] == name:
            del stack[index:]
            return


def _score(atoms: list[str], index: int) -> int:
    """How good a place to cut is after atoms[index]: paragraph > line > word > anywhere."""
    atom = atoms[index]
    if atom == "\n":
        return 3 if index > 0 and atoms[index - 1] == "\n" else 2
    return 1 if atom.isspace() else 0


def _visible(part: str) -> bool:
    return bool(html.unescape(re.sub(r"<[^<>]*>", "", part)).strip())


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut HTML into parts of at most `limit` units, never inside a tag or an entity.

    Cuts at a paragraph break if one is in the second half of the part, else a
    line break, else a space, else between characters. Tags open at a cut are
    closed at the end of the part and opened again at the start of the next.
    """
    if _units(text) <= limit:
        return [text] if _visible(text) else []
    atoms = _ATOM.findall(text)
    parts: list[str] = []
    stack: list[tuple[str, str]] = []
    start = 0
    while start < len(atoms):
        prefix = "".join(tag for _, tag in stack)
        size = _units(prefix)
        walking = list(stack)
        latest: dict[
            int, tuple[int, int, list[tuple[str, str]]]
        ] = {}  # score -> (end, size, stack)
        end = start
        while end < len(atoms):
            after = list(walking)
            _step(after, atoms[end])
            grown = size + _units(atoms[end])
            if grown + _units(_closing(after)) > limit:
                break
            size, walking, end = grown, after, end + 1
            latest[_score(atoms, end - 1)] = (end, size, after)
        if end == len(atoms):
            cut, cut_stack = end, walking
        elif not latest:
            raise ValueError(f"cannot split: the open tags alone exceed {limit} characters")
        else:
            full = [latest[s] for s in (3, 2, 1, 0) if s in latest and latest[s][1] * 2 >= limit]
            cut, _, cut_stack = full[0] if full else max(latest.values(), key=lambda c: c[0])
        part = prefix + "".join(atoms[start:cut]) + _closing(cut_stack)
        if _visible(part):
            parts.append(part.strip())
        stack, start = cut_stack, cut
    return parts


LIMITER = ChatRateLimiter()  # shared by every sender in the process


def _seconds(retry_after: int | float | timedelta) -> float:
    if isinstance(retry_after, timedelta):
        return retry_after.total_seconds()
    return float(retry_after)


async def _with_retry(
    call: Callable[[], Awaitable[Any]], chat_id: int | str, not_after: float | None = None
) -> Any:
    """Send; on RetryAfter wait as told and send again, or raise ChatBusy if the wait would
    pass `not_after` (a caller that has already sent part of a message passes None)."""
    for attempt in range(RETRIES + 1):
        try:
            return await call()
        except RetryAfter as exc:
            if attempt == RETRIES:
                raise
            wait = _seconds(exc._retry_after)
            if not_after is not None and LIMITER.clock() + wait > not_after:
                raise ChatBusy(chat_id, wait) from exc
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")


async def send_html(
    bot: telegram.Bot,
    chat_id: int | str,
    html: str,
    *,
    reply_to: int | None = None,
    reply_markup: Any = None,
    not_after: float | None = None,
) -> list[telegram.Message]:
    """Send HTML (already escaped where it holds user text), split to fit, one part at a time.

    The first part replies to `reply_to`; the last carries `reply_markup`.
    RetryAfter is honoured by waiting as long as Telegram says and sending
    again; the parts wait their turn in the chat's rate limit, all of them
    before the first goes out, so a message is not left half sent. With
    `not_after` (time.monotonic()), ChatBusy is raised instead of waiting past
    it, as long as nothing has been sent yet.
    """
    parts = split_html(html)
    sent: list[telegram.Message] = []
    await LIMITER.acquire(chat_id, len(parts), not_after)
    for index, part in enumerate(parts):
        reply = (
            telegram.ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to is not None and index == 0
            else None
        )
        markup = reply_markup if index == len(parts) - 1 else None
        if index >= LIMITER.per_minute:  # more parts than a minute's places: taken one by one
            await LIMITER.acquire(chat_id)

        async def call(part: str = part, reply: Any = reply, markup: Any = markup) -> Any:
            return await bot.send_message(
                chat_id,
                part,
                parse_mode=ParseMode.HTML,
                reply_parameters=reply,
                reply_markup=markup,
                link_preview_options=telegram.LinkPreviewOptions(is_disabled=True),
            )

        sent.append(await _with_retry(call, chat_id, None if sent else not_after))
    return sent


async def edit_html(
    bot: telegram.Bot, chat_id: int | str, message_id: int, html: str, reply_markup: Any = None
) -> Any:
    """Replace a message's text (cut to one part: a card never needs more), honouring RetryAfter."""
    parts = split_html(html) or ["…"]

    async def call() -> Any:
        return await bot.edit_message_text(
            parts[0],
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=reply_markup,
            link_preview_options=telegram.LinkPreviewOptions(is_disabled=True),
        )

    return await _with_retry(call, chat_id)
