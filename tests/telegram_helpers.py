"""Builders the Telegram bot tests share: updates from the shared examples, a bot on the loopback server."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import telegram
from sqlalchemy import func, select

from core.config import Config, TriageConfig
from core.config_telegram import ChatRule, TelegramConfig
from core.models import Incident, RawMessage, StoredReport
from core.runtime import Runtime
from ingest.telegram_bot import TelegramBot
from tests.botapi_fixture import BOT_USER, BotApiServer
from tests.conftest import EXAMPLES, require_shared
from tests.helpers import open_db

GROUP = -1001873264410  # the chat of the shared examples
MENTION_GROUP = -1002000000001
EXAMPLE_CHATS = (-1002011547730, -1001650092731, -1001764400981)  # the other examples' chats
PRIVATE_USER = 5120334871  # maya_ops in the examples
T = TypeVar("T")
_ids = itertools.count(900_000)


def example(name: str) -> dict[str, Any]:
    path = require_shared(EXAMPLES / name)
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def message(
    text: str,
    chat_id: int = GROUP,
    *,
    message_id: int | None = None,
    sender: dict[str, Any] | None = None,
    reply_to: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    edited: bool = False,
    chat_type: str = "supergroup",
) -> dict[str, Any]:
    """An Update shaped like the shared example 002 (a real group message), with this text."""
    update = copy.deepcopy(example("002-delivery-riders-shortage.telegram.json"))
    msg = update.pop("message")
    msg["message_id"] = message_id if message_id is not None else next(_ids)
    msg["text"] = text
    msg["chat"] = (
        {"id": chat_id, "type": "private", "first_name": "Maya", "username": "maya_ops"}
        if chat_type == "private"
        else {**msg["chat"], "id": chat_id, "type": chat_type}
    )
    if sender is not None:
        msg["from"] = sender
    msg.pop("entities", None)
    if entities:
        msg["entities"] = entities
    if reply_to is not None:
        msg["reply_to_message"] = reply_to
    if edited:
        msg["edit_date"] = msg["date"] + 60
    update["edited_message" if edited else "message"] = msg
    del update["update_id"]  # the server numbers them
    return update


def command(text: str, chat_id: int = GROUP, **kwargs: Any) -> dict[str, Any]:
    word = text.split(" ", 1)[0]
    length = len(word.encode("utf-16-le")) // 2
    return message(
        text, chat_id, entities=[{"offset": 0, "length": length, "type": "bot_command"}], **kwargs
    )


def mention_entities(text: str, handle: str) -> list[dict[str, Any]]:
    offset = text.index(handle)
    return [{"offset": offset, "length": len(handle), "type": "mention"}]


def bot_user() -> dict[str, Any]:
    return {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}


def config(
    url: str,
    server: BotApiServer,
    *,
    chats: tuple[ChatRule, ...] = (
        ChatRule(GROUP, "all"),
        ChatRule(MENTION_GROUP, "mention"),
        *(ChatRule(chat, "all") for chat in EXAMPLE_CHATS),
    ),
    threshold: int = 3,
    cards_for: str = "needs_review",
) -> Config:
    return Config(
        database_url=url,
        triage=TriageConfig(threshold=threshold),
        telegram=TelegramConfig(
            token_env="UNUSED",
            base_url=server.base_url,
            chats=chats,
            private_users=(PRIVATE_USER,),
            cards_for=cards_for,
            poll_timeout=1,
        ),
    )


def runtime(url: str, server: BotApiServer, **kwargs: Any) -> Runtime:
    return open_db(url, config(url, server, **kwargs))


def make_bot(rt: Runtime, server: BotApiServer) -> TelegramBot:
    return TelegramBot(rt, telegram.Bot(server.token, base_url=server.base_url))


@asynccontextmanager
async def running(bot: TelegramBot) -> Any:
    """The bot polling in the background for the length of the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(bot.run(stop))
    await bot.start()
    try:
        yield bot
    finally:
        await bot.drain(5)
        stop.set()
        await asyncio.wait_for(task, 15)


async def until(check: Callable[[], T], timeout: float = 15.0) -> T:
    """Poll a (blocking) check in a thread until it gives something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {check}")
        await asyncio.sleep(0.02)


def run(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def count(rt: Runtime, model: Any, *where: Any) -> int:
    with rt.factory() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def reports(rt: Runtime) -> list[StoredReport]:
    with rt.factory() as session:
        rows = session.scalars(select(StoredReport).order_by(StoredReport.id)).all()
        for row in rows:
            _ = row.incident, row.changes
        return list(rows)


def incidents(rt: Runtime) -> list[Incident]:
    with rt.factory() as session:
        rows = session.scalars(select(Incident).order_by(Incident.id)).all()
        for row in rows:
            _ = row.events, row.reports
        return list(rows)


def raws(rt: Runtime) -> list[RawMessage]:
    with rt.factory() as session:
        return list(session.scalars(select(RawMessage).order_by(RawMessage.id)).all())


def texts(server: BotApiServer) -> Iterator[str]:
    return (str(sent["text"]) for sent in list(server.sent))


async def step(bot: TelegramBot, server: BotApiServer, *updates: dict[str, Any]) -> None:
    """Push updates, take them in (one poll at a time), run the pipeline, send everything queued."""
    await bot.start()
    last = 0
    for update in updates:
        last = server.push_update(update)
    while (bot.offset or 0) <= last:
        await bot.poll_once()
    await bot.process_pending()
    await bot.drain(10)


def steps(bot: TelegramBot, server: BotApiServer, *batches: list[dict[str, Any]]) -> None:
    """Each batch taken in and answered before the next is pushed, in one event loop."""

    async def scenario() -> None:
        for batch in batches:
            await step(bot, server, *batch)
        await bot.bot.shutdown()

    run(scenario())
