"""Telegram: notifications in HTML parse mode through the bot's sender (notify/telegram_send).

The delivery worker runs in a thread; python-telegram-bot is async. The
channel keeps one event loop in its own thread with one initialised Bot, and
each send waits for its coroutine there. telegram_send splits long messages,
keeps a group chat at 20 messages a minute and honours RetryAfter (429).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import telegram
from telegram.error import BadRequest, Forbidden

from core import config_telegram
from notify.channel_smtp import PermanentError
from notify.telegram_send import send_html

SEND_TIMEOUT = 300.0  # seconds: a rate-limited group may wait up to a minute per part


class TelegramChannel:
    def __init__(self, bot: telegram.Bot) -> None:
        self.bot = bot
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="notify-telegram", daemon=True
        )
        self.thread.start()
        self._ready = False

    @classmethod
    def from_config(cls, config: config_telegram.TelegramConfig) -> TelegramChannel:
        return cls(telegram.Bot(config_telegram.token(config), base_url=config.base_url))

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(SEND_TIMEOUT)

    def send(self, chat_id: int, html: str, not_after: float | None = None) -> None:
        """Send; ChatBusy (nothing sent) if the chat's rate limit would hold the message past
        `not_after` (time.monotonic())."""
        if not self._ready:
            self._run(self.bot.initialize())
            self._ready = True
        try:
            self._run(send_html(self.bot, chat_id, html, not_after=not_after))
        except (BadRequest, Forbidden) as exc:  # chat gone, bot removed, malformed HTML
            raise PermanentError(f"Telegram refused: {exc}") from exc

    def close(self) -> None:
        if self._ready:
            self._run(self.bot.shutdown())
            self._ready = False
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
